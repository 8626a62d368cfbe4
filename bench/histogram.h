// Call latencies counted in buckets 1% wide, so that the latencies of several client processes can
// be sent to the parent as a few hundred numbers and merged there into exact-to-1% quantiles.
#ifndef NOTNETS_BENCH_HISTOGRAM_H_
#define NOTNETS_BENCH_HISTOGRAM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "job.h"

namespace notnets::bench {

class LatencyHistogram {
 public:
  LatencyHistogram();

  // Counts one call that took `ns` nanoseconds.
  void Record(int64_t ns);
  // Adds the calls `other` counted.
  void Merge(const LatencyHistogram& other);
  // Calls counted.
  uint64_t count() const { return count_; }
  // The latency in microseconds below which a fraction `q` (0..1) of the calls fell, within 1%
  // (nearest rank); 0 if no call was counted.
  double QuantileUs(double q) const;

  // Appends one metric "<prefix>b<bucket>" per non-empty bucket to `metrics`.
  void AppendMetrics(const std::string& prefix, std::vector<Metric>* metrics) const;
  // Adds the buckets of `metrics` named by AppendMetrics with `prefix`.
  void AddMetrics(const std::string& prefix, const std::vector<Metric>& metrics);

 private:
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
};

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_HISTOGRAM_H_
