#include "pool/segment_guard.h"

#include <signal.h>
#include <sys/mman.h>

#include <mutex>

namespace notnets::internal {

namespace {

// Two mappings per connection on each side, up to the server's 16384 connections.
constexpr int kSlots = 32768;

// A slot is live while `state` is kLive; the handler reads the others' fields only then.
constexpr uint32_t kFree = 0;
constexpr uint32_t kClaimed = 1;
constexpr uint32_t kLive = 2;

struct Slot {
  std::atomic<uint32_t> state{kFree};
  std::atomic<int> protection{0};
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<std::atomic<bool>*> faulted{nullptr};
};

Slot slots[kSlots];
// Where the next registration starts looking: slots are mostly taken and freed in order.
std::atomic<int> next_slot{0};
struct sigaction previous;

void Handle(int signal, siginfo_t* info, void* context) {
  auto address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& slot : slots) {
    if (slot.state.load(std::memory_order_acquire) != kLive) continue;
    uintptr_t begin = slot.begin.load(std::memory_order_relaxed);
    uintptr_t end = slot.end.load(std::memory_order_relaxed);
    if (address < begin || address >= end) continue;
    // mmap is a plain system call: safe here. Zeros from now on, for every thread.
    void* zeros = ::mmap(reinterpret_cast<void*>(begin), end - begin,
                         slot.protection.load(std::memory_order_relaxed),
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (zeros == MAP_FAILED) break;
    slot.faulted.load(std::memory_order_relaxed)->store(true, std::memory_order_release);
    return;
  }
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction != nullptr) previous.sa_sigaction(signal, info, context);
    return;
  }
  if (previous.sa_handler == SIG_IGN) return;
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != nullptr) {
    previous.sa_handler(signal);
    return;
  }
  // The default action: returning re-runs the access, which faults again without us.
  ::signal(SIGBUS, SIG_DFL);
}

void Install() {
  struct sigaction action {};
  action.sa_sigaction = Handle;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, &previous);
}

}  // namespace

int GuardMapping(void* base, uint64_t bytes, int protection, std::atomic<bool>* faulted) {
  static std::once_flag installed;
  std::call_once(installed, Install);
  int start = next_slot.load(std::memory_order_relaxed);
  for (int i = 0; i < kSlots; ++i) {
    int index = (start + i) % kSlots;
    Slot& slot = slots[index];
    uint32_t expected = kFree;
    if (!slot.state.compare_exchange_strong(expected, kClaimed, std::memory_order_acquire)) {
      continue;
    }
    slot.protection.store(protection, std::memory_order_relaxed);
    slot.begin.store(reinterpret_cast<uintptr_t>(base), std::memory_order_relaxed);
    slot.end.store(reinterpret_cast<uintptr_t>(base) + bytes, std::memory_order_relaxed);
    slot.faulted.store(faulted, std::memory_order_relaxed);
    slot.state.store(kLive, std::memory_order_release);
    next_slot.store((index + 1) % kSlots, std::memory_order_relaxed);
    return index;
  }
  return -1;
}

void UnguardMapping(int handle) {
  if (handle < 0 || handle >= kSlots) return;
  slots[handle].state.store(kFree, std::memory_order_release);
}

}  // namespace notnets::internal
