// This process's record in one pool's lease table: claimed when the pool is mapped, renewed by
// the lease keeper's thread (pool/lease_keeper.h) and, when that thread fell behind, by a writer
// itself, and given up when the mapping goes. It also fences the process: once a peer on another
// host declared it dead, MayWrite says no to everything made under that identity, for good; the
// process then rejoins under a new token and a new record (a new epoch), and what it makes from
// then on may write again. See docs/protocol.md, "Leases and fencing".
#ifndef NOTNETS_POOL_LEASE_H_
#define NOTNETS_POOL_LEASE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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

  // True if this process may write into the pool now, into memory it took under identity
  // `epoch` (a value of epoch() read before that identity was first written anywhere): the epoch
  // is still current, its record is not fenced and was renewed within half a lease period on this
  // process's clock (renewing it here if not). False for good once a peer fenced that epoch's
  // record. Costs a coarse clock read and a load while the keeper keeps up.
  bool MayWrite(uint64_t epoch);
  // The same for the current epoch: whether the process may start something new.
  bool MayWrite() { return MayWrite(epoch()); }
  // Which identity (token and record) the process holds in this pool: 0 at first, one more each
  // time it rejoined after being fenced. Read it before SelfIdentity(), so that an object never
  // names a newer token than its epoch's.
  uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  // UNAVAILABLE: this process was fenced (or holds no record); for calls that MayWrite refused.
  Status FencedStatus() const;

  // For the lease keeper.
  // Renews the record if this process holds it; false once it is fenced.
  bool Renew(int64_t now_ns);
  // Claims a new record for this process's new token after fork() (the parent's is not ours).
  void ClaimInChild(uint64_t token, int32_t pid);
  // True if this process needs a record under a new identity: its record was fenced, or a rejoin
  // found no free record.
  bool fenced() const { return fenced_.load(std::memory_order_relaxed); }
  // The token this lease's record holds (or last held).
  uint64_t token() const { return token_; }
  // Moves to the identity `token` (the process's token after a fence) if the record does not
  // hold it, in a new epoch: claims a record for it, and retires a record of the old token that
  // was not fenced (FenceRetired gives it up once writes begun under it are over). False if the
  // record is not `token`'s yet (the table was full: the lease stays fenced, to try again).
  // `*retired` is set if an unfenced record was retired.
  bool Rejoin(uint64_t token, int32_t pid, bool* retired);
  // Fences the records Rejoin retired whose grace (a lease period) has passed by `now_ns`.
  void FenceRetired(int64_t now_ns);
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
  // Fences record `slot` if it still holds the claim numbered `generation`.
  void GiveUp(uint32_t slot, uint64_t generation);

  // A record of an earlier identity that was not fenced when the process rejoined: given up a
  // lease period later, when no write that a MayWrite of its epoch allowed can still be running.
  struct Retired {
    uint32_t slot;
    uint64_t generation;
    int64_t due_ns;
  };

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
  std::atomic<uint64_t> epoch_{0};
  // Written by Claim, ClaimInChild and Rejoin (under the keeper's mutex); read by the keeper.
  uint64_t token_ = 0;
  std::vector<Retired> retired_;  // under the keeper's mutex
};

// CLOCK_MONOTONIC_COARSE in nanoseconds: this process's own clock, which leases are judged on.
int64_t LeaseClockNs();

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_LEASE_H_
