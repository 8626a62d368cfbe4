#include "latency.h"

#include <cmath>

namespace notnets::tool {

uint64_t QuantileUpperBoundNs(const LatencyHistogram& histogram, double q) {
  uint64_t total = 0;
  for (uint64_t count : histogram) total += count;
  if (total == 0) return 0;
  // The rank of the quantile's call, 1-based: the p50 of 2 calls is the first.
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (uint32_t bucket = 0; bucket < internal::kLatencyBuckets; ++bucket) {
    seen += histogram[bucket];
    if (seen >= rank) return BucketUpperBoundNs(bucket);
  }
  return BucketUpperBoundNs(internal::kLatencyBuckets - 1);
}

}  // namespace notnets::tool
