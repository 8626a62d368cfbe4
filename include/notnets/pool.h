// A named shared memory pool: the memory that services and their clients share.
//
// A pool lives in any file that can be mapped with mmap: by default a file under /dev/shm, but a
// file on hugetlbfs or a DAX character device (/dev/daxX.Y, the way CXL memory appears on Linux)
// goes through the same code. Every process that attaches a pool maps it at its own address; all
// references inside the pool are offsets.
#ifndef NOTNETS_POOL_H_
#define NOTNETS_POOL_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "notnets/status.h"

namespace notnets {

namespace internal {
class PoolAccess;
class PoolMapping;
}  // namespace internal

// How processes make their writes visible to each other through the pool.
enum class CoherenceMode : uint32_t {
  // The memory is cache-coherent between all users (one host's shared memory).
  kCoherent = 0,
  // The memory is not coherent between users (CXL memory shared by several hosts): writers write
  // back their cache lines before publishing, readers invalidate theirs before consuming.
  kWriteBackInvalidate = 1,
};

// Options for creating a pool.
struct PoolOptions {
  // Total size of the pool in bytes, including its header and directory.
  uint64_t size_bytes = 64ull << 20;
  // Number of services the directory can hold at once.
  uint32_t max_services = 64;
  // Whether the pool's users share it cache-coherently; fixed for the pool's life.
  CoherenceMode coherence = CoherenceMode::kCoherent;
  // Recent results of at-most-once calls the pool remembers (ClientContext::set_at_most_once);
  // 64 bytes each. 0 turns at-most-once calls off.
  uint32_t call_window_slots = 4096;
  // Liveness across hosts (kernels) that share the pool: a process of another host whose lease
  // has not advanced for this long, on the observer's own clock, is declared dead, fenced, and
  // its memory reclaimed; a process that lost its lease fails its calls with UNAVAILABLE.
  // Fixed for the pool's life (read by Create), in [20 ms, 1 h]. Processes of one host see each
  // other's death within 100 ms whatever this is (docs/protocol.md, "Leases and fencing").
  std::chrono::milliseconds lease_period{1000};
  // Permission bits of a newly created pool file, set exactly (the umask does not narrow them):
  // 0600 lets only its owner (and root) open the pool; 0660 or 0666 let services of other users
  // share it, each connection still readable only by its two parties (docs/security.md). Must
  // be at most 0777 and include 0600 (INVALID_ARGUMENT otherwise).
  uint32_t file_mode = 0600;
  // Quotas of this process's channels in the pool, so that one client cannot take the pool from
  // the others. Read by Create and Attach; they bind this process only (each Pool object counts
  // its own channels), and a client over one gets RESOURCE_EXHAUSTED naming it.
  // Connections (channels, and their reconnections) open at once.
  uint32_t max_process_connections = 256;
  // Bytes of the pool the channels hold at once: their connections, the messages they are
  // writing, have received and hold, and their caches. 0: half of the pool's heap.
  uint64_t max_process_memory_bytes = 0;
  // Users (uids) besides this process's effective user and root whose pool files Attach accepts.
  // Whoever owns a pool file can read every message and forge every response, so a pool that
  // another user created (perhaps first, under the name a service meant to create) is refused.
  std::vector<uint32_t> trusted_owners;
};

// A snapshot of a pool's header and memory use, for tools and tests.
struct PoolStats {
  std::string path;              // the file behind the pool
  uint32_t layout_version = 0;   // the version of the pool's memory layout (docs/memory-layout.md)
  uint64_t size_bytes = 0;       // the whole pool, header and directory included
  uint64_t heap_bytes = 0;       // bytes available to message buffers and connections
  uint64_t heap_used_bytes = 0;  // bytes in blocks that are not free
  uint64_t heap_free_bytes = 0;  // bytes in free blocks and never-used heap
  uint64_t blocks_in_use = 0;    // blocks allocated and not yet freed
  CoherenceMode coherence = CoherenceMode::kCoherent;
  // One registered service, as its directory entry says.
  struct ServiceInfo {
    std::string name;
    int32_t server_pid = 0;             // the process of its server
    uint32_t method_count = 0;          // methods it registered
    uint64_t connections_accepted = 0;  // connections its server has accepted so far
    uint32_t server_uid = 0;            // the effective user of its server
    // Who its server accepts as callers (notnets::AllowedCallers), as the entry shows them: the
    // server's uid and the uids it lists, the gids it lists, or anyone. At most six ids are
    // shown; `callers_cut_short` says the server lists more.
    std::vector<uint32_t> caller_uids;
    std::vector<uint32_t> caller_gids;
    bool any_caller = false;
    bool callers_cut_short = false;
    // The uid the name belongs to (the first to register it) and the other users it lets
    // register servers under it, as the name's file records them (docs/security.md).
    uint32_t owner_uid = 0;
    std::vector<uint32_t> registrant_uids;
  };
  // The services registered in the directory.
  std::vector<ServiceInfo> services;
};

// An attached pool. Thread-safe. The mapping stays valid while any Pool, Channel or Server that
// uses it is alive.
class Pool {
 public:
  // Returns the path for a pool name: a name with a '/' is a path; any other name means
  // "/dev/shm/notnets-<name>". The empty name means the NOTNETS_POOL environment variable, or
  // "default" if it is unset. Create, Attach and Remove refuse with INVALID_ARGUMENT a name with a
  // NUL byte, a name over 200 bytes, a path that is not absolute, and a path with a '..'.
  static std::string PathFor(const std::string& name);

  // Creates a new pool at PathFor(name) and attaches it. Fails with ALREADY_EXISTS if the file
  // already holds a pool, INVALID_ARGUMENT if the options are out of range.
  static Status Create(const std::string& name, const PoolOptions& options,
                       std::shared_ptr<Pool>* pool);

  // Attaches an existing pool. Fails with NOT_FOUND if there is no such file, and with
  // FAILED_PRECONDITION if the file is not a pool, is corrupt, or has another layout version.
  // PERMISSION_DENIED if the file belongs to a user that neither is this process's effective
  // user or root nor is in `options.trusted_owners` (the other options are ignored).
  static Status Attach(const std::string& name, std::shared_ptr<Pool>* pool);
  static Status Attach(const std::string& name, const PoolOptions& options,
                       std::shared_ptr<Pool>* pool);

  // Attaches the pool if it exists (trusting `options.trusted_owners`), otherwise creates it with
  // `options`.
  static Status AttachOrCreate(const std::string& name, const PoolOptions& options,
                               std::shared_ptr<Pool>* pool);

  // Removes the pool's file (processes that have it attached keep their mapping), its segments
  // whose creators are dead and the files of its service names, those this user may remove (in
  // /dev/shm, its own; root's, all): a pool created again at the path starts with every name
  // free. Refuses with FAILED_PRECONDITION a file that is not a regular file starting with the
  // pool magic.
  static Status Remove(const std::string& name);

  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // The path of the file behind this pool.
  const std::string& path() const;

  // Reads the pool's header, directory and heap.
  PoolStats Stats() const;

  // Whether `service` was ever registered in this pool: its name has an owner (docs/security.md,
  // "Who owns a service name"), whether or not a server of it runs now.
  bool HasServiceName(std::string_view service) const;

 private:
  friend class internal::PoolAccess;
  Pool(std::unique_ptr<internal::PoolMapping> mapping, const PoolOptions& options);
  std::unique_ptr<internal::PoolMapping> mapping_;
};

}  // namespace notnets

#endif  // NOTNETS_POOL_H_
