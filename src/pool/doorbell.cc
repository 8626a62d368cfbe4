#include "pool/doorbell.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "pool/cache_simulator.h"
#include "pool/fence.h"

namespace notnets::internal {

namespace {

// The futex is the low 32 bits of the 64-bit sequence word (little-endian), in the shared
// mapping even under the cache simulator, whose copy of the pool is private to this process.
uint32_t* FutexWord(SharedWord* word) { return static_cast<uint32_t*>(SharedAddressOf(word)); }

// Adds `delta` to the sleeper count and returns the count, with a full barrier in between: what
// this side wrote before is visible to the other side once it reads after its own barrier, so
// the sleeper and the producer cannot both miss each other. ThreadSanitizer does not model fences
// (GCC warns, -Wtsan), so its builds use read-modify-writes instead: the sleepers' on the count,
// the ringers' (which may only read the count: it can be in memory mapped read-only to them) on a
// word of their own, a full barrier on the hardware.
uint64_t AddSleepersThenBarrier(SharedWord* sleepers, uint64_t delta) {
#if defined(__SANITIZE_THREAD__)
  if (delta == 0) {
    SequentialFence();
    return sleepers->load(std::memory_order_seq_cst);
  }
  return sleepers->fetch_add(delta, std::memory_order_seq_cst) + delta;
#else
  if (delta != 0) Visibility::FetchAdd(sleepers, delta);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return Visibility::LoadOrdered(sleepers);
#endif
}

// NOTNETS_DOORBELL=sleep: this process never wakes a sleeper through the kernel, as between
// hosts, where no futex reaches; sleepers then wake at their timeout. Emulated hosts set it
// (scripts/emulated-hosts.sh), since on one kernel the futex of a shared file would reach.
bool WakesThroughTheKernel() {
  static const bool wakes = [] {
    const char* mode = std::getenv("NOTNETS_DOORBELL");
    return mode == nullptr || std::strcmp(mode, "sleep") != 0;
  }();
  return wakes;
}

}  // namespace

uint64_t Doorbell::BeginSleep() {
  uint64_t sequence = Visibility::LoadOrdered(sequence_);
  // The sleeper count must be visible before the caller looks for work once more.
  AddSleepersThenBarrier(sleepers_, 1);
  return sequence;
}

void Doorbell::Sleep(uint64_t sequence, std::chrono::microseconds timeout) {
  struct timespec wait {};
  wait.tv_sec = static_cast<time_t>(timeout.count() / 1000000);
  wait.tv_nsec = static_cast<long>(timeout.count() % 1000000) * 1000;
  // Returns at once if the sequence moved since BeginSleep (EAGAIN), on a ring, or on timeout.
  ::syscall(SYS_futex, FutexWord(sequence_), FUTEX_WAIT, static_cast<uint32_t>(sequence), &wait,
            nullptr, 0);
}

void Doorbell::EndSleep() { Visibility::FetchAdd(sleepers_, ~uint64_t{0}); }

void Doorbell::Ring() {
  if (sleepers_ == nullptr) return;  // not attached to a pool: nobody can sleep on it
  // The work published before must be visible before we read the sleeper count (the sleeper
  // does the opposite): otherwise both could miss each other.
  if (AddSleepersThenBarrier(sleepers_, 0) == 0) return;
  Visibility::FetchAdd(sequence_, 1);
  if (WakesThroughTheKernel()) {
    ::syscall(SYS_futex, FutexWord(sequence_), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  }
}

}  // namespace notnets::internal
