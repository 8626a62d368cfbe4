// The pipelining sweep: one client thread keeps 1 to 64 asynchronous calls outstanding against a
// server with one worker (notnets: Channel::CallAsync with callbacks; gRPC: the callback API).
#include <algorithm>

#include "sweep.h"

namespace notnets::bench {
namespace {

// `depth` calls outstanding.
Job PipelineJob(const AllOptions& options, double depth) {
  Job job;
  job.mode = JobMode::kPipeline;
  job.depth = static_cast<uint32_t>(depth);
  job.calls = options.sweep_calls * 2;
  job.warmup = std::min<uint64_t>(options.warmup, 2000);
  job.min_seconds = kPointMinSeconds;
  job.max_seconds = options.point_seconds;
  return job;
}

}  // namespace

Sweep RunPipelineSweep(const AllOptions& options, Failures* failures) {
  Sweep sweep{"pipeline", "outstanding_calls", {}};
  RunPoints(options, {"notnets-native", "grpc-http2-tcp-callback"}, {1, 2, 4, 8, 16, 32, 64},
            PipelineJob, &sweep, failures);
  return sweep;
}

}  // namespace notnets::bench
