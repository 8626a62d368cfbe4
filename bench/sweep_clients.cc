// The concurrency sweep: 1 to 64 client threads in one client process, each with its own
// connection, calling one server one call at a time.
#include <algorithm>

#include "sweep.h"

namespace notnets::bench {
namespace {

// `threads` threads, the point's calls shared between them.
Job ClientsJob(const AllOptions& options, double threads) {
  Job job;
  job.threads = static_cast<uint32_t>(threads);
  job.calls = std::max<uint64_t>(options.sweep_calls / job.threads, 100);
  job.warmup = std::clamp<uint64_t>(job.calls / 10, 10, options.warmup);
  job.min_seconds = kPointMinSeconds;
  job.max_seconds = options.point_seconds;
  return job;
}

}  // namespace

Sweep RunClientsSweep(const AllOptions& options, Failures* failures) {
  Sweep sweep{"clients", "client_threads", {}};
  RunPoints(options, {"notnets-native", "grpc-http2-tcp", "uds-pingpong"}, {1, 2, 4, 8, 16, 32, 64},
            ClientsJob, &sweep, failures);
  return sweep;
}

}  // namespace notnets::bench
