// The request-size sweep: 16 B to 4 MiB, one client thread, one call at a time.
#include <algorithm>

#include "sweep.h"

namespace notnets::bench {
namespace {

// Payload bytes a point moves at most: fewer calls for large requests.
constexpr double kBytesPerPoint = 512.0 * 1024 * 1024;

// Requests of `size` bytes; fewer calls (at least 50) for large ones.
Job SizeJob(const AllOptions& options, double size) {
  Job job;
  job.payload_size = static_cast<size_t>(size);
  job.calls =
      std::clamp<uint64_t>(static_cast<uint64_t>(kBytesPerPoint / size), 50, options.sweep_calls);
  job.warmup = std::clamp<uint64_t>(job.calls / 10, 5, options.warmup);
  job.min_seconds = kPointMinSeconds;
  job.max_seconds = options.point_seconds;
  return job;
}

}  // namespace

Sweep RunSizeSweep(const AllOptions& options, Failures* failures) {
  Sweep sweep{"size", "payload_bytes", {}};
  std::vector<double> sizes;
  for (double size = 16; size <= 4 * 1024 * 1024; size *= 4) sizes.push_back(size);
  RunPoints(options,
            {"notnets-native", "notnets-native-zerocopy", "notnets-native-zerocopy-stamp",
             "grpc-http2-tcp"},
            sizes, SizeJob, &sweep, failures);
  return sweep;
}

}  // namespace notnets::bench
