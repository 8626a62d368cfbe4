// Ends the benchmark when a case hangs, instead of waiting forever.
#ifndef NOTNETS_BENCH_WATCHDOG_H_
#define NOTNETS_BENCH_WATCHDOG_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace notnets::bench {

// While alive, watches a client's calls from a thread of its own: if `timeout` passes without
// progress, prints that case `case_name` stopped answering and calls EmergencyExit(1).
class Watchdog {
 public:
  // Progress is counted by Tick().
  Watchdog(std::string case_name, std::chrono::seconds timeout);
  // Progress is what `progress` returns (any thread-safe count that grows with each call).
  Watchdog(std::string case_name, std::chrono::seconds timeout, std::function<uint64_t()> progress);
  // Stops watching.
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Records that a call completed. Cheap enough to call after every call; one thread only.
  void Tick() {
    ticks_.store(ticks_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

 private:
  void Watch();

  const std::string case_name_;
  const std::chrono::seconds timeout_;
  std::atomic<uint64_t> ticks_{0};
  std::function<uint64_t()> progress_;
  std::mutex mutex_;
  std::condition_variable stop_requested_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_WATCHDOG_H_
