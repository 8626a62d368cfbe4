#include "pool/lease_keeper.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "pool/background_thread.h"
#include "pool/host_id.h"
#include "pool/lease.h"
#include "pool/process_identity.h"

namespace notnets::internal {

namespace {

// How many times per lease period the thread renews and looks: a dead peer is fenced within
// 1 + 1/kTicksPerPeriod periods of its last renewal, and a renewal may be late by up to
// (1 - 1/kTicksPerPeriod) periods before a peer can fence a live process.
constexpr uint64_t kTicksPerPeriod = 8;

// A lease value of another host's process, and when this process first saw it (its own clock).
struct Observation {
  uint64_t lease = 0;
  int64_t since_ns = 0;
};

struct Keeper {
  std::mutex mutex;
  std::vector<Lease*> leases;
  std::map<std::pair<const Lease*, uint32_t>, Observation> observed;
  bool thread_running = false;
};

Keeper* keeper = nullptr;

Keeper& TheKeeper() {
  LeaseKeeper::Initialize();
  return *keeper;
}

void LockBeforeFork() { keeper->mutex.lock(); }
void UnlockAfterFork() { keeper->mutex.unlock(); }
// The child has no keeper thread, and holds none of its parent's records.
void ForgetInChild() {
  keeper->thread_running = false;
  keeper->observed.clear();
  for (Lease* lease : keeper->leases) lease->ForgetInChild();
  keeper->mutex.unlock();
}

// What record `slot` of `lease`'s table says, fencing it if it belongs to another host, or is
// half-claimed, and has not changed for a lease period. Called with the keeper's mutex held.
LeaseVerdict Observe(Keeper& k, const Lease& lease, uint32_t slot, int64_t now_ns) {
  LeaseRecord* record = lease.record(slot);
  const Visibility& visibility = lease.visibility();
  uint64_t value = visibility.Consume(&record->lease);
  if (value == 0 || (value & kLeaseFenced) != 0) return LeaseVerdict::kDead;
  // A claim takes microseconds; one that stands still for a lease period is judged like a lease
  // that stopped advancing, whatever host wrote it, so that a claimer that died half-way does not
  // hold the record (and make the token it still names look alive) for ever.
  bool claiming = (value & kLeaseClaiming) != 0;
  if (!claiming && visibility.Consume(&record->host) == HostId()) return LeaseVerdict::kAskKernel;
  Observation& seen = k.observed[{&lease, slot}];
  if (seen.lease != value) {
    seen = Observation{value, now_ns};
    return LeaseVerdict::kAlive;
  }
  if (now_ns - seen.since_ns < static_cast<int64_t>(lease.period_ns())) return LeaseVerdict::kAlive;
  // Stale for a whole period: fence it. If its owner renewed meanwhile, the exchange fails and
  // the owner lives; if it succeeds, the owner's next renewal fails and it stops writing.
  uint64_t expected = value;
  if (Visibility::CompareExchange(&record->lease, expected, value | kLeaseFenced)) {
    return LeaseVerdict::kDead;
  }
  seen = Observation{expected, now_ns};
  return (expected & kLeaseFenced) != 0 ? LeaseVerdict::kDead : LeaseVerdict::kAlive;
}

void Run() {
  Keeper& k = *keeper;
  std::unique_lock<std::mutex> lock(k.mutex);
  while (k.thread_running) {
    uint64_t shortest_ns = 0;
    int64_t now = LeaseClockNs();
    bool fenced = false;
    for (Lease* lease : k.leases) {
      fenced = (!lease->Renew(now) && lease->fenced()) || fenced;
      lease->FenceRetired(now);
      for (uint32_t slot = 0; slot < lease->slots(); ++slot) {
        if (slot != lease->slot()) Observe(k, *lease, slot, now);
      }
      if (shortest_ns == 0 || lease->period_ns() < shortest_ns) shortest_ns = lease->period_ns();
    }
    auto tick =
        std::chrono::nanoseconds(shortest_ns == 0 ? 100000000 : shortest_ns / kTicksPerPeriod);
    lock.unlock();
    // A fenced process carries on under a new identity (taken with the liveness registry's mutex,
    // which comes before the keeper's); a full table is tried again at the next tick.
    if (fenced) RejoinAfterFence();
    std::this_thread::sleep_for(tick);
    lock.lock();
  }
}

}  // namespace

void LeaseKeeper::Initialize() {
  static std::once_flag once;
  std::call_once(once, [] {
    keeper = new Keeper;  // never destroyed: its thread may outlive static destruction
    ::pthread_atfork(LockBeforeFork, UnlockAfterFork, ForgetInChild);
  });
}

void LeaseKeeper::Add(Lease* lease) {
  Keeper& k = TheKeeper();
  std::lock_guard<std::mutex> lock(k.mutex);
  k.leases.push_back(lease);
  if (!k.thread_running) {
    k.thread_running = true;
    StartBackgroundThread(Run);
  }
}

void LeaseKeeper::Remove(Lease* lease) {
  Keeper& k = TheKeeper();
  std::lock_guard<std::mutex> lock(k.mutex);
  k.leases.erase(std::remove(k.leases.begin(), k.leases.end(), lease), k.leases.end());
  for (auto seen = k.observed.begin(); seen != k.observed.end();) {
    seen = seen->first.first == lease ? k.observed.erase(seen) : std::next(seen);
  }
}

LeaseVerdict LeaseKeeper::Judge(uint64_t token) {
  Keeper& k = TheKeeper();
  std::lock_guard<std::mutex> lock(k.mutex);
  if (k.leases.empty()) return LeaseVerdict::kAskKernel;
  int64_t now = LeaseClockNs();
  LeaseVerdict verdict = LeaseVerdict::kDead;
  for (const Lease* lease : k.leases) {
    for (uint32_t slot = 0; slot < lease->slots(); ++slot) {
      const SharedWord* owner = &lease->records()[slot].token;
      if (lease->visibility().Consume(owner) != token) continue;
      LeaseVerdict said = Observe(k, *lease, slot, now);
      // A record claimed by someone else meanwhile says nothing about `token`.
      if (lease->visibility().Consume(owner) != token) continue;
      if (said == LeaseVerdict::kAlive) return said;
      if (said == LeaseVerdict::kAskKernel) verdict = said;
    }
  }
  return verdict;
}

void LeaseKeeper::ClaimInChild(uint64_t token, int32_t pid) {
  Keeper& k = TheKeeper();
  std::lock_guard<std::mutex> lock(k.mutex);
  for (Lease* lease : k.leases) lease->ClaimInChild(token, pid);
}

bool LeaseKeeper::FencedUnder(uint64_t token) {
  Keeper& k = TheKeeper();
  std::lock_guard<std::mutex> lock(k.mutex);
  for (const Lease* lease : k.leases) {
    if (lease->fenced() && lease->token() == token) return true;
  }
  return false;
}

bool LeaseKeeper::Rejoin(uint64_t token, int32_t pid) {
  Keeper& k = TheKeeper();
  std::lock_guard<std::mutex> lock(k.mutex);
  bool retired_any = false;
  for (Lease* lease : k.leases) {
    bool retired = false;
    lease->Rejoin(token, pid, &retired);
    retired_any = retired_any || retired;
  }
  return retired_any;
}

void LeaseKeeper::EnsureRunning() {
  Keeper& k = TheKeeper();
  std::lock_guard<std::mutex> lock(k.mutex);
  if (!k.leases.empty() && !k.thread_running) {
    k.thread_running = true;
    StartBackgroundThread(Run);
  }
}

}  // namespace notnets::internal
