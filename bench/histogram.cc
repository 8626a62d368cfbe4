#include "histogram.h"

#include <cmath>
#include <cstdlib>

namespace notnets::bench {
namespace {

// Bucket b holds latencies in [1.01^b, 1.01^(b+1)) ns; the last one everything from 23 s up.
constexpr double kGrowth = 1.01;
constexpr size_t kBuckets = 2400;

size_t BucketOf(int64_t ns) {
  if (ns <= 1) return 0;
  double bucket = std::log(static_cast<double>(ns)) / std::log(kGrowth);
  return std::min(static_cast<size_t>(bucket), kBuckets - 1);
}

}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBuckets, 0) {}

void LatencyHistogram::Record(int64_t ns) {
  ++buckets_[BucketOf(ns)];
  ++count_;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t b = 0; b < kBuckets; ++b) buckets_[b] += other.buckets_[b];
  count_ += other.count_;
}

double LatencyHistogram::QuantileUs(double q) const {
  if (count_ == 0) return 0;
  uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * count_)));
  uint64_t seen = 0;
  size_t b = 0;
  for (; b < kBuckets; ++b) {
    seen += buckets_[b];
    if (seen >= rank) break;
  }
  // The bucket's middle, in the log scale.
  return std::pow(kGrowth, static_cast<double>(b) + 0.5) / 1000.0;
}

void LatencyHistogram::AppendMetrics(const std::string& prefix,
                                     std::vector<Metric>* metrics) const {
  for (size_t b = 0; b < kBuckets; ++b) {
    if (buckets_[b] == 0) continue;
    metrics->push_back({prefix + "b" + std::to_string(b), static_cast<double>(buckets_[b])});
  }
}

void LatencyHistogram::AddMetrics(const std::string& prefix, const std::vector<Metric>& metrics) {
  std::string start = prefix + "b";
  for (const Metric& metric : metrics) {
    if (metric.name.compare(0, start.size(), start) != 0) continue;
    size_t b = std::strtoul(metric.name.c_str() + start.size(), nullptr, 10);
    if (b >= kBuckets) continue;
    uint64_t calls = static_cast<uint64_t>(metric.value);
    buckets_[b] += calls;
    count_ += calls;
  }
}

}  // namespace notnets::bench
