// Adaptive waiting for pollers: spin, then pause, then yield, then sleep, so that a busy peer is
// answered in nanoseconds and an idle one costs almost no CPU.
#ifndef NOTNETS_CHANNEL_WAIT_H_
#define NOTNETS_CHANNEL_WAIT_H_

#include <chrono>
#include <cstdint>

namespace notnets::internal {

// One CPU hint that a spin loop is waiting (x86 PAUSE).
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class Backoff {
 public:
  // Time spent spinning before yielding, and yielding before sleeping. The spin is short because a
  // peer that shares our CPU cannot run while we spin; yielding hands the CPU to it at once.
  static constexpr std::chrono::microseconds kSpinFor{5};
  static constexpr std::chrono::microseconds kYieldUntil{200};
  // Sleeps start here and double up to kMaxSleep: the worst added latency after idleness.
  static constexpr std::chrono::microseconds kFirstSleep{20};
  static constexpr std::chrono::microseconds kMaxSleep{1000};

  // Starts over after work was found.
  void Reset() { rounds_ = 0; }

  // Waits a little, longer the longer nothing has happened.
  void Wait();

  // As Wait, but in the sleeping phase calls `sleep(duration)` instead of sleeping itself, so that
  // a waiter with a doorbell can be woken before the duration ends.
  template <typename Sleep>
  void Wait(Sleep&& sleep) {
    std::chrono::microseconds nap = Step();
    if (nap.count() > 0) sleep(nap);
  }

  // True once waiting has reached the sleeping phase (a cheap moment for slow checks).
  bool sleeping() const { return sleep_ > std::chrono::microseconds::zero() && rounds_ != 0; }

 private:
  // Spins or yields once and returns zero, or returns how long to sleep now.
  std::chrono::microseconds Step();

  uint64_t rounds_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::chrono::microseconds sleep_{0};
};

}  // namespace notnets::internal

#endif  // NOTNETS_CHANNEL_WAIT_H_
