#include "stats.h"

#include <algorithm>
#include <cmath>

namespace notnets::bench {
namespace {

double ToMicros(double ticks) {
  using Tick = std::chrono::steady_clock::period;
  return ticks * 1e6 * Tick::num / Tick::den;
}

// The nearest-rank percentile `p` (0 < p <= 1) of `sorted`, which is not empty.
double Percentile(const std::vector<std::chrono::steady_clock::rep>& sorted, double p) {
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return ToMicros(static_cast<double>(sorted[std::max<size_t>(rank, 1) - 1]));
}

}  // namespace

LatencyRecorder::LatencyRecorder(uint64_t calls) { samples_.reserve(calls); }

LatencySummary LatencyRecorder::Summarize(std::chrono::steady_clock::duration wall_time) const {
  LatencySummary summary;
  if (samples_.empty()) return summary;
  std::vector<std::chrono::steady_clock::rep> sorted = samples_;
  std::sort(sorted.begin(), sorted.end());
  double total = 0;
  for (auto sample : sorted) total += static_cast<double>(sample);
  summary.avg_us = ToMicros(total / static_cast<double>(sorted.size()));
  summary.p50_us = Percentile(sorted, 0.50);
  summary.p99_us = Percentile(sorted, 0.99);
  summary.p999_us = Percentile(sorted, 0.999);
  double seconds = std::chrono::duration<double>(wall_time).count();
  summary.calls_per_s = seconds > 0 ? static_cast<double>(samples_.size()) / seconds : 0;
  return summary;
}

}  // namespace notnets::bench
