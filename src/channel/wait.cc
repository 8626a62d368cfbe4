#include "channel/wait.h"

#include <algorithm>
#include <thread>

namespace notnets::internal {

void Backoff::Wait() {
  std::chrono::microseconds nap = Step();
  if (nap.count() > 0) std::this_thread::sleep_for(nap);
}

std::chrono::microseconds Backoff::Step() {
  if (rounds_++ == 0) {
    started_ = std::chrono::steady_clock::now();
    sleep_ = std::chrono::microseconds::zero();
  }
  // Reading the clock costs tens of nanoseconds: only every 64 rounds while spinning.
  if (sleep_ == std::chrono::microseconds::zero() && rounds_ % 64 != 0) {
    CpuRelax();
    return std::chrono::microseconds::zero();
  }
  if (sleep_ == std::chrono::microseconds::zero()) {
    auto waited = std::chrono::steady_clock::now() - started_;
    if (waited < kSpinFor) {
      CpuRelax();
      return std::chrono::microseconds::zero();
    }
    if (waited < kYieldUntil) {
      std::this_thread::yield();
      return std::chrono::microseconds::zero();
    }
    sleep_ = kFirstSleep;
  }
  std::chrono::microseconds nap = sleep_;
  sleep_ = std::min(sleep_ * 2, kMaxSleep);
  return nap;
}

}  // namespace notnets::internal
