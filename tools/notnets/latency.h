// Quantiles of the counters' latency histograms (pool/counters_layout.h).
#ifndef NOTNETS_TOOLS_NOTNETS_LATENCY_H_
#define NOTNETS_TOOLS_NOTNETS_LATENCY_H_

#include <cstdint>

#include "pool/counters_layout.h"

namespace notnets::tool {

// Calls counted in latency bucket b, for each b.
using LatencyHistogram = uint64_t[internal::kLatencyBuckets];

// The upper bound, in nanoseconds, of the bucket that holds quantile `q` (0 < q <= 1) of the
// calls in `histogram`: the quantile is at most this, and over half of it. 0 with no calls.
uint64_t QuantileUpperBoundNs(const LatencyHistogram& histogram, double q);

// The upper bound, in nanoseconds, of latency bucket `bucket`.
inline uint64_t BucketUpperBoundNs(uint32_t bucket) { return uint64_t{2} << bucket; }

}  // namespace notnets::tool

#endif  // NOTNETS_TOOLS_NOTNETS_LATENCY_H_
