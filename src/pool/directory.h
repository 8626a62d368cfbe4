// The service directory: a fixed table in the pool where servers register services by name and
// clients find them and leave connection requests. No locks: entries move between states by CAS.
#ifndef NOTNETS_POOL_DIRECTORY_H_
#define NOTNETS_POOL_DIRECTORY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "notnets/status.h"
#include "pool/allocator.h"
#include "pool/counters_layout.h"
#include "pool/doorbell.h"
#include "pool/pool_mapping.h"
#include "pool/replica_layout.h"
#include "pool/service_access.h"
#include "pool/shared_memory.h"

namespace notnets::internal {

inline constexpr size_t kMaxServiceNameBytes = 176;
inline constexpr size_t kMaxMethodNameBytes = 256;
inline constexpr uint32_t kMaxMethodsPerService = 1024;

enum class ServiceState : uint8_t {
  kFree = 0,     // unused; names no block (methods_offset and counters are 0)
  kClaimed = 1,  // a server is writing the entry, or a live server freeing a dead one's
  kActive = 2,   // serving; name and methods are immutable
  kClosing = 3,  // the server is shutting down; no new connections
};

struct alignas(kCacheLineBytes) ServiceEntry {
  // generation << 8 | ServiceState; the generation changes whenever the entry is claimed.
  SharedWord state;
  // Push-only stack of connections waiting to be accepted: pool offset of the newest connection
  // block, linked through ConnectionHeader::next_pending. 0 when empty.
  SharedWord pending_connections;
  SharedWord server_pid;
  SharedWord server_token;    // the server process's liveness token (ProcessIdentity)
  SharedWord methods_offset;  // pool offset of the block holding the method table
  SharedWord connections_accepted;
  SharedWord name_length;
  SharedWord name_words[kMaxServiceNameBytes / 8];
  // The doorbell the server's workers sleep on (Doorbell): the entry whose doorbell clients of
  // this service ring (a server with several services sleeps on its first one's), its sequence
  // and its count of sleepers.
  SharedWord doorbell_entry;
  SharedWord doorbell_sequence;
  SharedWord doorbell_sleepers;
  // The server's counters for this service (pool/counters_layout.h).
  ServiceCountersRef counters;
  // Whether other servers may serve the name beside this one (pool/replica_layout.h).
  ReplicaRef replica;
  // The server process's effective uid: the only user a client grants its connection's requests
  // to, and whose responses it trusts (the owner of the server's segment must be this uid).
  SharedWord server_uid;
  // Who may call the server, for tools (pool/service_access.h).
  ServiceAccess access;
  // Who holds the entry while it is kClaimed: the liveness token of the process that claimed it,
  // published with the generation it claimed. A claim whose generation is the state's and whose
  // token is dead was abandoned by a process that died holding it; another takes it over.
  SharedWord claimer_token;
  SharedWord claimer_generation;
};
static_assert(sizeof(ServiceEntry) == 512);
static_assert(offsetof(ServiceEntry, name_words) == 56);
static_assert(offsetof(ServiceEntry, doorbell_entry) == 232);
static_assert(offsetof(ServiceEntry, counters) == 256);
static_assert(offsetof(ServiceEntry, replica) == 320);
static_assert(offsetof(ServiceEntry, server_uid) == 384);
static_assert(offsetof(ServiceEntry, access) == 392);
static_assert(offsetof(ServiceEntry, claimer_token) == 448);
static_assert(offsetof(ServiceEntry, claimer_generation) == 456);
// Publishing claimer_generation writes back its line, and claimer_token with it.
static_assert(offsetof(ServiceEntry, claimer_token) / kCacheLineBytes ==
              offsetof(ServiceEntry, claimer_generation) / kCacheLineBytes);

inline uint64_t ServiceStateWord(uint64_t generation, ServiceState state) {
  return generation << 8 | static_cast<uint8_t>(state);
}
inline ServiceState StateOf(uint64_t word) { return static_cast<ServiceState>(word & 0xff); }
inline uint64_t GenerationOf(uint64_t word) { return word >> 8; }

// A registered service as seen by one process: where its entry is and which generation of it.
struct ServiceRef {
  uint32_t index = 0;
  uint64_t generation = 0;
};

// A service found in the directory, with its method names, validated.
struct ServiceView {
  ServiceRef ref;
  std::vector<std::string> methods;
};

class Directory {
 public:
  Directory(PoolMapping* mapping, Allocator* allocator);

  // Registers `name` with `methods` for this process; its clients ring the doorbell of entry
  // `doorbell_entry` (kOwnDoorbell: the new entry's own). Takes over the entry of a dead server
  // of the same name, or, when no entry is free, of any dead server. Fails with ALREADY_EXISTS if
  // a live process serves the name (unless it and this one both register as
  // ReplicaMode::kReplica), RESOURCE_EXHAUSTED if the directory (of live servers) or the pool is
  // full, INVALID_ARGUMENT for names that are empty or too long. The entry shows
  // `access.callers`. A name belongs to the owner of its name file (pool/name_file.h), which the
  // first registration of the name creates with this uid and `access.registrants`: any uid the
  // file neither belongs to nor lists gets PERMISSION_DENIED naming the owner, whether or not
  // servers of the name are left, until the pool is removed. The entry carries the owner's uid
  // and list for tools; nothing reads them to decide.
  static constexpr uint32_t kOwnDoorbell = ~0u;
  Status Register(std::string_view name, const std::vector<std::string>& methods,
                  uint32_t doorbell_entry, ServiceRef* ref, ReplicaMode mode = ReplicaMode::kSole,
                  const RegistrationAccess& access = RegistrationAccess(), int attempt = 0);

  // The doorbell that the server of `ref` sleeps on, as recorded in its entry (validated).
  Doorbell DoorbellOf(const ServiceRef& ref) const;
  // Moves the entry to kClosing: new connections are refused.
  void BeginClose(const ServiceRef& ref);
  // Frees the entry, its method table and its counters block.
  void Unregister(const ServiceRef& ref);

  // Finds an active service by name (the first live replica). UNAVAILABLE, naming the service and
  // pool, if there is none.
  Status Lookup(std::string_view name, ServiceView* view) const;
  // Finds every active entry of `name` whose server is alive, in directory order; UNAVAILABLE
  // as Lookup when there is none.
  Status LookupAll(std::string_view name, std::vector<ServiceView>* views) const;

  // True if `ref` still designates an active entry.
  bool IsActive(const ServiceRef& ref) const;

  // The entries other than `live`'s that hold `name`, the name `live` registered, and whose
  // server is dead: replicas of the name that crashed and that no registration took over (a new
  // replica registers beside the live ones, and across hosts beside an entry it cannot yet tell
  // is dead), for the live server of the name to Reclaim. The live entry is not read: under
  // write-back-invalidate an invalidate of its own entry would write it back, hiding a missing
  // write-back from the mutation check.
  std::vector<ServiceRef> DeadNamesakes(const ServiceRef& live, std::string_view name) const;

  // The entries that a process claimed (kClaimed) and died holding: a server killed while it
  // registered, or while it reclaimed a dead server's entry. Any live server reclaims them,
  // whatever name they hold: unlike a dead server's active entry, they tell its clients nothing.
  std::vector<ServiceRef> AbandonedClaims() const;

  // Takes the entry `dead` of a dead server (as DeadNamesakes found it) or of a dead claimer (as
  // AbandonedClaims found it) so that no other process can, calls `free_orphans` with the entry's
  // next generation while holding it (the sweep of an entry's earlier generations,
  // FreeOrphanedConnections, must run alone), then frees the method table and counters the entry
  // names, and the entry. False if another process took it first.
  bool Reclaim(const ServiceRef& dead, const std::function<void(const ServiceRef&)>& free_orphans);

  // The entry at `index` (< max_services).
  ServiceEntry* entry(uint32_t index) const;

  // Reads the name of entry `index`; empty if the entry is not active.
  std::string NameOf(uint32_t index) const;
  // Reads the name of entry `index`, seen in `state` (active or closing); empty if the entry
  // changed state meanwhile.
  std::string ListedNameOf(uint32_t index, uint64_t state) const;

 private:
  // The first entry whose server or claimer has died, for Register to take over when no entry is
  // free; leaves the arguments unchanged if there is none.
  void FindDeadEntry(uint32_t* index, uint64_t* state) const;
  // True if entry `index` is kActive or kClosing and its server is dead; `*state` is the state
  // word it was seen in.
  bool IsDeadEntry(uint32_t index, uint64_t* state) const;
  // True if entry `index` is kClaimed by a process that died holding it; `*state` as above.
  bool IsAbandonedClaim(uint32_t index, uint64_t* state) const;
  // Records this process as the holder of entry `e`, just claimed in `generation`.
  void PublishClaim(ServiceEntry* e, uint64_t generation);
  // Frees the method table and counters block that entry `e`, which this process holds, names.
  // It clears the names first and writes them back: a process that dies half-way leaks a block
  // rather than leave it named for the entry's next holder to free a second time.
  void FreeNamedBlocks(ServiceEntry* e);
  bool ReadName(const ServiceEntry& entry, std::string* name) const;
  void WriteName(ServiceEntry* entry, std::string_view name);
  bool ReadMethods(uint64_t offset, std::vector<std::string>* methods) const;
  // True if a live server of entry `e` serving `name` keeps a server registering in `mode` out.
  static bool Excludes(const ServiceEntry& e, ReplicaMode mode);

  PoolMapping* mapping_;
  Allocator* allocator_;
};

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_DIRECTORY_H_
