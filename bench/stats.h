// Call latencies and their summary.
#ifndef NOTNETS_BENCH_STATS_H_
#define NOTNETS_BENCH_STATS_H_

#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

namespace notnets::bench {

// A summary of a series of calls, in microseconds and calls per second.
struct LatencySummary {
  double avg_us = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
  // Calls divided by the wall time of the whole series, timing overhead included.
  double calls_per_s = 0;
  // Calls in the series, and its wall time.
  double calls = 0;
  double wall_seconds = 0;
};

// Records the latency of each call in a series.
class LatencyRecorder {
 public:
  // Prepares for `calls` calls, so that recording them does not allocate.
  explicit LatencyRecorder(uint64_t calls = 0);

  // Records one call that took `latency`.
  void Record(std::chrono::steady_clock::duration latency) { samples_.push_back(latency.count()); }

  // Adds the calls `other` recorded.
  void Merge(const LatencyRecorder& other);

  // The number of calls recorded.
  uint64_t count() const { return samples_.size(); }

  // Summarizes the calls recorded, which took `wall_time` in all. Percentiles are nearest-rank.
  LatencySummary Summarize(std::chrono::steady_clock::duration wall_time) const;

  // (percentile, latency in µs) pairs for a CDF: every 1% to 99%, finer towards the tail, and the
  // maximum. Empty if no call was recorded.
  std::vector<std::pair<double, double>> Cdf() const;

 private:
  std::vector<std::chrono::steady_clock::rep> samples_;
};

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_STATS_H_
