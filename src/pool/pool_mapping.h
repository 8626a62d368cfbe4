// One process's mapping of a pool file, and bounds-checked access to what is inside.
#ifndef NOTNETS_POOL_POOL_MAPPING_H_
#define NOTNETS_POOL_POOL_MAPPING_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "notnets/pool.h"
#include "notnets/status.h"
#include "pool/layout.h"
#include "pool/lease.h"
#include "pool/process_identity.h"
#include "pool/process_quota.h"
#include "pool/shared_memory.h"

namespace notnets::internal {

class PoolMapping {
 public:
  // Creates the pool file at `path` (a regular file: built unnamed, or under a random name, with
  // all its memory reserved, then linked into place, so nobody attaches a half-built pool; a
  // character device: initialized in place).
  static Status Create(const std::string& path, const PoolOptions& options,
                       std::unique_ptr<PoolMapping>* mapping);
  // Maps an existing pool and checks its header. A regular file must belong to this process's
  // effective user, root, or a user in `trusted_owners` (else PERMISSION_DENIED).
  static Status Attach(const std::string& path, const std::vector<uint32_t>& trusted_owners,
                       std::unique_ptr<PoolMapping>* mapping);

  ~PoolMapping();
  PoolMapping(const PoolMapping&) = delete;
  PoolMapping& operator=(const PoolMapping&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  PoolHeader* header() const { return reinterpret_cast<PoolHeader*>(base_); }
  const Visibility& visibility() const { return visibility_; }
  // The heap bounds, copied from the header at attach (never re-read from shared memory).
  uint64_t heap_offset() const { return heap_offset_; }
  uint64_t heap_end() const { return heap_end_; }
  uint64_t directory_offset() const { return directory_offset_; }
  uint32_t max_services() const { return max_services_; }
  uint64_t call_window_offset() const { return call_window_offset_; }
  uint32_t call_window_slots() const { return call_window_slots_; }
  // This process's lease in the pool: whether it may still write (Lease::MayWrite).
  Lease& lease() const { return *lease_; }
  // What this process's channels hold in the pool, and may (process memory, not the pool's).
  ProcessQuota& quota() const { return quota_; }
  // True once a process shortened the pool file under this mapping: a read past the new end
  // raised SIGBUS, and this process's whole mapping became private zeros (segment_guard.h), so
  // it shares nothing through the pool any more. docs/security.md.
  bool shortened() const { return shortened_.load(std::memory_order_acquire); }
  // FAILED_PRECONDITION saying that the pool was shortened (once shortened() is true).
  Status ShortenedStatus() const;

  // True if [offset, offset + length) lies inside the heap and offset is 64-byte aligned.
  bool InHeap(uint64_t offset, uint64_t length) const {
    return offset % kCacheLineBytes == 0 && offset >= heap_offset_ && offset < heap_end_ &&
           length <= heap_end_ - offset;
  }

  // The address of pool offset `offset`. Callers check bounds first (InHeap or a layout bound).
  template <typename T>
  T* At(uint64_t offset) const {
    return reinterpret_cast<T*>(base_ + offset);
  }
  // The pool offset of `address`, which must lie in this mapping.
  uint64_t OffsetOf(const void* address) const {
    return static_cast<uint64_t>(static_cast<const uint8_t*>(address) - base_);
  }

 private:
  // `base` is what the process reads and writes (the simulated cache's copy, or `shared`);
  // `shared` is the file's mapping, guarded against SIGBUS.
  PoolMapping(std::string path, uint8_t* base, void* shared, uint64_t size);
  // Copies the layout bounds out of the (already validated) header.
  void LoadBounds();
  // Finishes a mapping that `fd` (taken over) backs: holds this process's liveness token in it
  // and claims its lease record.
  static Status Finish(int fd, std::unique_ptr<PoolMapping>* mapping);

  std::string path_;
  uint8_t* base_;
  uint64_t size_;
  Visibility visibility_{CoherenceMode::kCoherent};
  uint64_t heap_offset_ = 0;
  uint64_t heap_end_ = 0;
  uint64_t directory_offset_ = 0;
  uint32_t max_services_ = 0;
  uint64_t call_window_offset_ = 0;
  uint32_t call_window_slots_ = 0;
  uint64_t lease_table_offset_ = 0;
  std::unique_ptr<LivenessLock> liveness_;
  std::unique_ptr<Lease> lease_;
  mutable ProcessQuota quota_;
  std::atomic<bool> shortened_{false};
  int guard_;
};

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_POOL_MAPPING_H_
