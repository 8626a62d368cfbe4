#include "pool/lease.h"

#include <time.h>

#include "pool/host_id.h"
#include "pool/lease_keeper.h"
#include "pool/process_identity.h"

namespace notnets::internal {

namespace {

bool IsFree(uint64_t lease) { return lease == 0 || (lease & kLeaseFenced) != 0; }

// The generation after the one in `lease`, never 0 (a record with word 0 was never claimed).
uint64_t NextGeneration(uint64_t lease) {
  uint64_t generation = (lease & kLeaseGenerationMask) >> 32;
  return (generation % ((kLeaseGenerationMask >> 32) - 1) + 1) << 32;
}

}  // namespace

int64_t LeaseClockNs() {
  struct timespec now {};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

Status Lease::Claim(LeaseRecord* records, uint32_t slots, uint64_t period_ns,
                    const Visibility& visibility, const std::string& path,
                    std::unique_ptr<Lease>* lease) {
  std::unique_ptr<Lease> claimed(new Lease(records, slots, period_ns, visibility, path));
  ProcessIdentity self = SelfIdentity();
  if (!claimed->TakeFreeRecord(self.token, self.pid) &&
      (claimed->FreeDeadLocalRecords() == 0 || !claimed->TakeFreeRecord(self.token, self.pid))) {
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  "the lease table of pool " + path + " is full (" + std::to_string(slots) +
                      " processes map it); close processes that use it, or wait a lease period "
                      "for dead ones on other hosts to be fenced");
  }
  LeaseKeeper::Add(claimed.get());
  *lease = std::move(claimed);
  return Status::OK;
}

bool Lease::TakeFreeRecord(uint64_t token, int32_t pid) {
  for (uint32_t slot = 0; slot < slots_; ++slot) {
    LeaseRecord& record = records_[slot];
    uint64_t seen = visibility_.Consume(&record.lease);
    if (!IsFree(seen)) continue;
    uint64_t generation = NextGeneration(seen);
    uint64_t claiming = kLeaseClaiming | generation;
    if (!Visibility::CompareExchange(&record.lease, seen, claiming)) continue;
    visibility_.Publish(&record.token, token);
    visibility_.Publish(&record.host, HostId());
    visibility_.Publish(&record.pid, static_cast<uint64_t>(static_cast<uint32_t>(pid)));
    // Read before the record is valid, so that a peer's lease period starts after it.
    int64_t claimed_ns = LeaseClockNs();
    // An observer fences a claim that stood still for a lease period (its claimer looks dead):
    // then the record is no longer ours to take, and another one is.
    if (!Visibility::CompareExchange(&record.lease, claiming, generation | 1)) continue;
    generation_.store(generation, std::memory_order_relaxed);
    token_ = token;
    slot_.store(slot, std::memory_order_release);
    // Release: a writer that sees this freshness sees the epoch it belongs to (Rejoin).
    fresh_until_ns_.store(claimed_ns + static_cast<int64_t>(period_ns_ / 2),
                          std::memory_order_release);
    return true;
  }
  return false;
}

int Lease::FreeDeadLocalRecords() {
  int freed = 0;
  for (uint32_t slot = 0; slot < slots_; ++slot) {
    LeaseRecord& record = records_[slot];
    uint64_t seen = visibility_.Consume(&record.lease);
    if (IsFree(seen) || (seen & kLeaseClaiming) != 0) continue;
    if (visibility_.Consume(&record.host) != HostId()) continue;
    uint64_t token = visibility_.Consume(&record.token);
    if (KernelSaysAlive(token)) continue;
    // The lease word decides: if it moved meanwhile, the record is someone else's now.
    if (Visibility::CompareExchange(&record.lease, seen, seen | kLeaseFenced)) ++freed;
  }
  return freed;
}

void Lease::GiveUp(uint32_t slot, uint64_t generation) {
  LeaseRecord& record = records_[slot];
  uint64_t seen = visibility_.Consume(&record.lease);
  while ((seen & (kLeaseFenced | kLeaseClaiming)) == 0 &&
         (seen & kLeaseGenerationMask) == generation &&
         !Visibility::CompareExchange(&record.lease, seen, seen | kLeaseFenced)) {
  }
}

Lease::~Lease() {
  LeaseKeeper::Remove(this);
  // The mapping goes: nothing of any epoch writes into it any more.
  for (const Retired& retired : retired_) GiveUp(retired.slot, retired.generation);
  uint32_t slot = slot_.load(std::memory_order_acquire);
  if (slot != kNoSlot) GiveUp(slot, generation_.load(std::memory_order_relaxed));
}

bool Lease::Rejoin(uint64_t token, int32_t pid, bool* retired) {
  *retired = false;
  uint32_t slot = slot_.load(std::memory_order_acquire);
  bool fenced = fenced_.load(std::memory_order_relaxed);
  if (token_ == token && slot != kNoSlot && !fenced) return true;
  // From here nothing made under the old identity may write (MayWrite compares epochs), and the
  // new one may not before its record is claimed.
  epoch_.fetch_add(1, std::memory_order_release);
  fenced_.store(true, std::memory_order_relaxed);
  fresh_until_ns_.store(0, std::memory_order_release);
  if (slot != kNoSlot && !fenced) {
    // Another pool object's fence changed the process's token; this record was not fenced, and a
    // write its epoch allowed may still be running. Peers go on judging the old token alive by
    // it until it is given up, when no such write can be: a lease period from now.
    retired_.push_back(Retired{slot, generation_.load(std::memory_order_relaxed),
                               LeaseClockNs() + static_cast<int64_t>(period_ns_)});
    *retired = true;
  }
  slot_.store(kNoSlot, std::memory_order_release);
  if (!TakeFreeRecord(token, pid)) return false;
  fenced_.store(false, std::memory_order_relaxed);
  return true;
}

void Lease::FenceRetired(int64_t now_ns) {
  for (auto retired = retired_.begin(); retired != retired_.end();) {
    if (retired->due_ns > now_ns) {
      ++retired;
      continue;
    }
    GiveUp(retired->slot, retired->generation);
    retired = retired_.erase(retired);
  }
}

bool Lease::Renew(int64_t now_ns) {
  if (fenced_.load(std::memory_order_relaxed)) return false;
  uint32_t slot = slot_.load(std::memory_order_acquire);
  if (slot == kNoSlot) return false;
  LeaseRecord& record = records_[slot];
  uint64_t generation = generation_.load(std::memory_order_relaxed);
  uint64_t seen = visibility_.Consume(&record.lease);
  while (true) {
    // Fenced by a peer, or fenced and claimed again since: either way no longer ours.
    if ((seen & (kLeaseFenced | kLeaseClaiming)) != 0 ||
        (seen & kLeaseGenerationMask) != generation) {
      fenced_.store(true, std::memory_order_relaxed);
      return false;
    }
    uint64_t next = (seen & ~kLeaseCountMask) | ((seen + 1) & kLeaseCountMask);
    if (Visibility::CompareExchange(&record.lease, seen, next)) break;
  }
  fresh_until_ns_.store(now_ns + static_cast<int64_t>(period_ns_ / 2), std::memory_order_release);
  return true;
}

bool Lease::MayWrite(uint64_t epoch) {
  int64_t now = LeaseClockNs();
  // Acquire: a freshness that Rejoin stored comes with its new epoch, so an object of the old
  // epoch that sees it also sees that it is out of date.
  int64_t fresh_until = fresh_until_ns_.load(std::memory_order_acquire);
  if (epoch_.load(std::memory_order_relaxed) != epoch) return false;
  if (now < fresh_until) return true;
  if (fenced_.load(std::memory_order_relaxed)) return false;
  if (slot_.load(std::memory_order_acquire) == kNoSlot) {  // a child of fork() claims here
    SelfIdentity();
    LeaseKeeper::EnsureRunning();
  }
  return Renew(now) && epoch_.load(std::memory_order_acquire) == epoch;
}

Status Lease::FencedStatus() const {
  return Status(StatusCode::UNAVAILABLE,
                "this process lost its lease in pool " + path_ +
                    ": a peer on another host declared it dead (it was paused or cut off for "
                    "longer than the lease period) and reclaimed its connections; the process "
                    "rejoins under a new identity, and later calls connect again");
}

void Lease::ClaimInChild(uint64_t token, int32_t pid) {
  if (slot_.load(std::memory_order_acquire) != kNoSlot) return;
  TakeFreeRecord(token, pid);
}

void Lease::ForgetInChild() {
  retired_.clear();  // the parent's
  slot_.store(kNoSlot, std::memory_order_relaxed);
  fresh_until_ns_.store(0, std::memory_order_relaxed);
}

}  // namespace notnets::internal
