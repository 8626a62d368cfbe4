#include "channel/wait.h"

#include <algorithm>
#include <thread>

namespace notnets::internal {

void Backoff::Wait() {
  if (rounds_++ == 0) {
    started_ = std::chrono::steady_clock::now();
    sleep_ = std::chrono::microseconds::zero();
  }
  // Reading the clock costs tens of nanoseconds: only every 64 rounds while spinning.
  if (sleep_ == std::chrono::microseconds::zero() && rounds_ % 64 != 0) {
    CpuRelax();
    return;
  }
  if (sleep_ == std::chrono::microseconds::zero()) {
    auto waited = std::chrono::steady_clock::now() - started_;
    if (waited < kSpinFor) {
      CpuRelax();
      return;
    }
    if (waited < kYieldUntil) {
      std::this_thread::yield();
      return;
    }
    sleep_ = kFirstSleep;
  }
  std::this_thread::sleep_for(sleep_);
  sleep_ = std::min(sleep_ * 2, kMaxSleep);
}

}  // namespace notnets::internal
