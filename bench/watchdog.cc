#include "watchdog.h"

#include <cstdio>

#include "emergency.h"

namespace notnets::bench {

Watchdog::Watchdog(std::string case_name, std::chrono::seconds timeout)
    : Watchdog(std::move(case_name), timeout, nullptr) {}

Watchdog::Watchdog(std::string case_name, std::chrono::seconds timeout,
                   std::function<uint64_t()> progress)
    : case_name_(std::move(case_name)),
      timeout_(timeout),
      progress_(progress ? std::move(progress) : std::function<uint64_t()>([this] {
        return ticks_.load(std::memory_order_relaxed);
      })),
      thread_([this] { Watch(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  stop_requested_.notify_one();
  thread_.join();
}

void Watchdog::Watch() {
  uint64_t last_progress_count = progress_();
  auto last_progress = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_requested_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
    uint64_t count = progress_();
    auto now = std::chrono::steady_clock::now();
    if (count != last_progress_count) {
      last_progress_count = count;
      last_progress = now;
    } else if (now - last_progress >= timeout_) {
      std::fprintf(stderr, "notnets-bench: case %s: FAILED: no call completed in %lld s\n",
                   case_name_.c_str(), static_cast<long long>(timeout_.count()));
      EmergencyExit(1);
    }
  }
}

}  // namespace notnets::bench
