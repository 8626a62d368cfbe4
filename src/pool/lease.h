// This process's record in one pool's lease table: claimed when the pool is mapped, renewed by
// the lease keeper's thread (pool/lease_keeper.h) and, when that thread fell behind, by a writer
// itself, and given up when the mapping goes. It also fences the process: once a peer on another
// host declared it dead, MayWrite says no for good. See docs/protocol.md, "Leases and fencing".
#ifndef NOTNETS_POOL_LEASE_H_
#define NOTNETS_POOL_LEASE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "notnets/status.h"
#include "pool/lease_table.h"
#include "pool/shared_memory.h"

namespace notnets::internal {

class Lease {
 public:
  // Claims a record among `slots` records at `records` (the validated table of the pool file
  // `path`, whose lease period is `period_ns`) for this process. RESOURCE_EXHAUSTED if every
  // record is held by a live process.
  static Status Claim(LeaseRecord* records, uint32_t slots, uint64_t period_ns,
                      const Visibility& visibility, const std::string& path,
                      std::unique_ptr<Lease>* lease);

  // Gives the record up (fences it: the token it holds is dead from now on).
  ~Lease();
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  // True if this process may write into the pool now: its record is not fenced and was renewed
  // within half a lease period on this process's clock (renewing it here if not). False for good
  // once a peer fenced it. Costs a coarse clock read while the keeper keeps up.
  bool MayWrite();
  // UNAVAILABLE: this process was fenced (or holds no record); for calls that MayWrite refused.
  Status FencedStatus() const;

  // For the lease keeper.
  // Renews the record if this process holds it; false once it is fenced.
  bool Renew(int64_t now_ns);
  // Claims a new record for this process's new token after fork() (the parent's is not ours).
  void ClaimInChild(uint64_t token, int32_t pid);
  // Called in the child of fork(): the record is the parent's.
  void ForgetInChild();
  const LeaseRecord* records() const { return records_; }
  LeaseRecord* record(uint32_t slot) const { return records_ + slot; }
  uint32_t slots() const { return slots_; }
  uint64_t period_ns() const { return period_ns_; }
  const Visibility& visibility() const { return visibility_; }
  // The record this process holds, or kNoSlot.
  uint32_t slot() const { return slot_.load(std::memory_order_acquire); }
  static constexpr uint32_t kNoSlot = ~uint32_t{0};

 private:
  Lease(LeaseRecord* records, uint32_t slots, uint64_t period_ns, const Visibility& visibility,
        std::string path)
      : records_(records),
        slots_(slots),
        period_ns_(period_ns),
        visibility_(visibility),
        path_(std::move(path)) {}

  // Takes a free record for `token`; false if none is free.
  bool TakeFreeRecord(uint64_t token, int32_t pid);
  // Fences the records of processes of this host that the kernel says are dead; how many.
  int FreeDeadLocalRecords();

  LeaseRecord* const records_;
  const uint32_t slots_;
  const uint64_t period_ns_;
  const Visibility visibility_;
  const std::string path_;
  std::atomic<uint32_t> slot_{kNoSlot};
  // The generation bits of the claim this process holds (kLeaseGenerationMask).
  std::atomic<uint64_t> generation_{0};
  // Until when (CLOCK_MONOTONIC_COARSE, ns) writes need no renewal.
  std::atomic<int64_t> fresh_until_ns_{0};
  std::atomic<bool> fenced_{false};
};

// CLOCK_MONOTONIC_COARSE in nanoseconds: this process's own clock, which leases are judged on.
int64_t LeaseClockNs();

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_LEASE_H_
