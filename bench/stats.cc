#include "stats.h"

#include <algorithm>
#include <cmath>

namespace notnets::bench {
namespace {

using Samples = std::vector<std::chrono::steady_clock::rep>;

// Steady-clock ticks in microseconds.
double ToMicros(double ticks) {
  using Tick = std::chrono::steady_clock::period;
  return ticks * 1e6 * Tick::num / Tick::den;
}

// The nearest-rank percentile `p` (0 < p <= 1) of `sorted`, which is not empty.
double Percentile(const Samples& sorted, double p) {
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::min(std::max<size_t>(rank, 1), sorted.size());
  return ToMicros(static_cast<double>(sorted[rank - 1]));
}

}  // namespace

LatencyRecorder::LatencyRecorder(uint64_t calls) { samples_.reserve(calls); }

void LatencyRecorder::Merge(const LatencyRecorder& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
}

LatencySummary LatencyRecorder::Summarize(std::chrono::steady_clock::duration wall_time) const {
  LatencySummary summary;
  if (samples_.empty()) return summary;
  Samples sorted = samples_;
  std::sort(sorted.begin(), sorted.end());
  double total = 0;
  for (auto sample : sorted) total += static_cast<double>(sample);
  summary.avg_us = ToMicros(total / static_cast<double>(sorted.size()));
  summary.p50_us = Percentile(sorted, 0.50);
  summary.p99_us = Percentile(sorted, 0.99);
  summary.p999_us = Percentile(sorted, 0.999);
  summary.max_us = ToMicros(static_cast<double>(sorted.back()));
  summary.calls = static_cast<double>(sorted.size());
  summary.wall_seconds = std::chrono::duration<double>(wall_time).count();
  summary.calls_per_s =
      summary.wall_seconds > 0 ? static_cast<double>(sorted.size()) / summary.wall_seconds : 0;
  return summary;
}

std::vector<std::pair<double, double>> LatencyRecorder::Cdf() const {
  std::vector<std::pair<double, double>> points;
  if (samples_.empty()) return points;
  Samples sorted = samples_;
  std::sort(sorted.begin(), sorted.end());
  std::vector<double> percentiles;
  for (int p = 1; p < 99; ++p) percentiles.push_back(p);
  for (int p = 990; p < 999; ++p) percentiles.push_back(p / 10.0);
  for (int p = 9990; p < 9999; ++p) percentiles.push_back(p / 100.0);
  percentiles.push_back(99.99);
  percentiles.push_back(99.999);
  for (double p : percentiles) points.emplace_back(p, Percentile(sorted, p / 100));
  points.emplace_back(100.0, ToMicros(static_cast<double>(sorted.back())));
  return points;
}

}  // namespace notnets::bench
