// Call latencies and their summary.
#ifndef NOTNETS_BENCH_STATS_H_
#define NOTNETS_BENCH_STATS_H_

#include <chrono>
#include <cstdint>
#include <vector>

namespace notnets::bench {

// A summary of a series of calls, in microseconds and calls per second.
struct LatencySummary {
  double avg_us = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  // Calls divided by the wall time of the whole series, timing overhead included.
  double calls_per_s = 0;
};

// Records the latency of each call in a series.
class LatencyRecorder {
 public:
  // Prepares for `calls` calls, so that recording them does not allocate.
  explicit LatencyRecorder(uint64_t calls);

  // Records one call that took `latency`.
  void Record(std::chrono::steady_clock::duration latency) { samples_.push_back(latency.count()); }

  // Summarizes the calls recorded, which took `wall_time` in all. Percentiles are nearest-rank.
  LatencySummary Summarize(std::chrono::steady_clock::duration wall_time) const;

 private:
  std::vector<std::chrono::steady_clock::rep> samples_;
};

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_STATS_H_
