// JobMode::kTimed: one client calls one at a time over a phase fixed in CLOCK_MONOTONIC time, so
// that the parent can line up the phases of several client processes (all calling together, or
// some joining at a load step) and read the servers' CPU over the same interval. The client
// reports ready once connected and warmed up; the parent then writes the common start
// (start_file.h). Latencies are
// split into windows at the job's split times, by when each call started, and sent as histograms
// (histogram.h) that the parent merges across processes.
#include <algorithm>
#include <thread>

#include "cpu_clock.h"
#include "histogram.h"
#include "runners.h"
#include "start_file.h"
#include "watchdog.h"

namespace notnets::bench {
namespace {

using Clock = std::chrono::steady_clock;

// How long a ready client waits for the parent to write the start: the parent starts every client
// of the fleet first, each within a 20 s limit.
constexpr double kStartTimeoutSeconds = 300;

Clock::time_point At(int64_t ns) { return Clock::time_point(std::chrono::nanoseconds(ns)); }

}  // namespace

std::string TimedWindowPrefix(size_t index) { return "window" + std::to_string(index) + "_"; }

Status RunTimedJob(Case* bench_case, const Job& job, ParentPipe* parent, JobResult* result) {
  std::unique_ptr<EchoClient> client;
  ClientOptions options;
  options.payload_size = job.payload_size;
  Status status = bench_case->Connect(job.server_args, job.endpoint, options, &client);
  if (!status.ok()) return Status(status.error_code(), "connecting: " + status.error_message());
  for (uint64_t i = 0; i < job.warmup; ++i) {
    status = client->Call();
    if (!status.ok()) return status;
  }
  // Windows: [start, split 0), [split 0, split 1), ..., [last split, stop).
  std::vector<LatencyHistogram> windows(job.splits_ns.size() + 1);
  parent->Ready("");
  int64_t base_ns = 0;
  status = AwaitStart(job.start_file, kStartTimeoutSeconds, &base_ns);
  if (!status.ok()) return status;
  std::this_thread::sleep_until(At(base_ns + job.start_ns));
  Watchdog watchdog(job.case_name, kHangTimeout);
  double cpu_before = OwnCpuSeconds();
  Clock::time_point began = Clock::now();
  Clock::time_point stop = At(base_ns + job.stop_ns);
  Clock::time_point ended = began;
  size_t window = 0;
  // The clock is read once per call: a latency includes the loop's own recording, which
  // allocates nothing.
  for (Clock::time_point before = began; before < stop; before = ended) {
    status = client->Call();
    ended = Clock::now();
    if (!status.ok()) return status;
    while (window < job.splits_ns.size() && before >= At(base_ns + job.splits_ns[window])) {
      ++window;
    }
    windows[window].Record(std::chrono::nanoseconds(ended - before).count());
    watchdog.Tick();
  }
  double cpu_after = OwnCpuSeconds();
  status = client->CheckPath();
  if (!status.ok()) return status;
  LatencyHistogram all;
  for (size_t i = 0; i < windows.size(); ++i) {
    windows[i].AppendMetrics(TimedWindowPrefix(i), &result->metrics);
    all.Merge(windows[i]);
  }
  LatencySummary& l = result->measurement.latency;
  l.calls = static_cast<double>(all.count());
  l.wall_seconds = std::chrono::duration<double>(ended - began).count();
  l.calls_per_s = l.wall_seconds > 0 ? l.calls / l.wall_seconds : 0;
  l.p50_us = all.QuantileUs(0.50);
  l.p99_us = all.QuantileUs(0.99);
  l.p999_us = all.QuantileUs(0.999);
  result->measurement.client_cpu_us_per_call =
      1e6 * (cpu_after - cpu_before) / std::max(1.0, l.calls);
  return Status::OK;
}

}  // namespace notnets::bench
