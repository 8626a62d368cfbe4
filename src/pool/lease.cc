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
    generation_.store(generation, std::memory_order_relaxed);
    fresh_until_ns_.store(LeaseClockNs() + static_cast<int64_t>(period_ns_ / 2),
                          std::memory_order_relaxed);
    // An observer fences a claim that stood still for a lease period (its claimer looks dead):
    // then the record is no longer ours to take, and another one is.
    if (!Visibility::CompareExchange(&record.lease, claiming, generation | 1)) continue;
    slot_.store(slot, std::memory_order_release);
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

Lease::~Lease() {
  LeaseKeeper::Remove(this);
  uint32_t slot = slot_.load(std::memory_order_acquire);
  if (slot == kNoSlot) return;
  LeaseRecord& record = records_[slot];
  uint64_t generation = generation_.load(std::memory_order_relaxed);
  uint64_t seen = visibility_.Consume(&record.lease);
  while ((seen & (kLeaseFenced | kLeaseClaiming)) == 0 &&
         (seen & kLeaseGenerationMask) == generation &&
         !Visibility::CompareExchange(&record.lease, seen, seen | kLeaseFenced)) {
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
  fresh_until_ns_.store(now_ns + static_cast<int64_t>(period_ns_ / 2), std::memory_order_relaxed);
  return true;
}

bool Lease::MayWrite() {
  int64_t now = LeaseClockNs();
  if (now < fresh_until_ns_.load(std::memory_order_relaxed)) return true;
  if (fenced_.load(std::memory_order_relaxed)) return false;
  if (slot_.load(std::memory_order_acquire) == kNoSlot) {  // a child of fork() claims here
    SelfIdentity();
    LeaseKeeper::EnsureRunning();
  }
  return Renew(now);
}

Status Lease::FencedStatus() const {
  return Status(StatusCode::UNAVAILABLE,
                "this process lost its lease in pool " + path_ +
                    ": a peer on another host declared it dead (it was paused or cut off for "
                    "longer than the lease period) and reclaimed its connections; restart it");
}

void Lease::ClaimInChild(uint64_t token, int32_t pid) {
  if (slot_.load(std::memory_order_acquire) != kNoSlot) return;
  TakeFreeRecord(token, pid);
}

void Lease::ForgetInChild() {
  slot_.store(kNoSlot, std::memory_order_relaxed);
  fresh_until_ns_.store(0, std::memory_order_relaxed);
}

}  // namespace notnets::internal
