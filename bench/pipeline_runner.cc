// JobMode::kPipeline: one client keeps `depth` asynchronous calls outstanding. The calls form
// `depth` chains: each completion records its call's latency and starts the next call of its
// chain, until the calls run out, the time is up or a call fails. The harness reads the clock
// once per call (a completion's time is also the start of its chain's next call, so a latency
// includes the harness's own work in between) and allocates nothing per call itself.
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "cpu_clock.h"
#include "runners.h"
#include "watchdog.h"

namespace notnets::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Chains of asynchronous calls on one client.
class Pipeline {
 public:
  Pipeline(EchoClient* client, uint32_t depth) : client_(client), chains_(depth), starts_(depth) {}

  // Makes at least `calls` calls, and more until `minimum`, with up to `depth` outstanding,
  // starting no call after `deadline`; returns the first failure. Latencies go to recorder().
  Status Run(uint64_t calls, Clock::time_point minimum, Clock::time_point deadline) {
    std::unique_lock<std::recursive_mutex> lock(mutex_);
    calls_ = calls;
    minimum_ = minimum;
    deadline_ = deadline;
    running_chains_ = static_cast<uint32_t>(chains_.size());
    for (uint32_t chain = 0; chain < chains_.size(); ++chain) Issue(chain, Clock::now());
    all_done_.wait(lock, [this] { return running_chains_ == 0; });
    return first_error_;
  }

  // All calls' latencies so far.
  LatencyRecorder recorder() const {
    LatencyRecorder all(0);
    for (const LatencyRecorder& chain : chains_) all.Merge(chain);
    return all;
  }

  // Calls completed so far; any thread.
  uint64_t completed() const { return completed_.load(std::memory_order_relaxed); }

 private:
  // Under `mutex_`: starts the next call of `chain` at `start`, or ends the chain.
  void Issue(uint32_t chain, Clock::time_point start) {
    if ((issued_ >= calls_ && start >= minimum_) || !first_error_.ok() || start >= deadline_) {
      if (--running_chains_ == 0) all_done_.notify_all();
      return;
    }
    ++issued_;
    starts_[chain] = start;
    // Small enough for std::function's own storage.
    client_->CallAsync([this, chain](Status status) { Done(chain, status); });
  }

  void Done(uint32_t chain, const Status& status) {
    // Only this chain's calls write its recorder and start time, one after another.
    auto now = Clock::now();
    chains_[chain].Record(now - starts_[chain]);
    completed_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    if (!status.ok() && first_error_.ok()) first_error_ = status;
    Issue(chain, now);
  }

  EchoClient* const client_;
  std::vector<LatencyRecorder> chains_;
  std::vector<Clock::time_point> starts_;  // of each chain's call in flight
  std::atomic<uint64_t> completed_{0};
  // Recursive: a call that fails at once runs its callback inside CallAsync.
  std::recursive_mutex mutex_;
  std::condition_variable_any all_done_;
  uint64_t calls_ = 0;
  uint64_t issued_ = 0;
  Clock::time_point minimum_;
  Clock::time_point deadline_;
  uint32_t running_chains_ = 0;
  Status first_error_;
};

}  // namespace

Status RunPipelineJob(Case* bench_case, const Job& job, JobResult* result) {
  ClientOptions options;
  options.payload_size = job.payload_size;
  std::unique_ptr<EchoClient> client;
  Status status = bench_case->Connect(job.server_args, job.endpoint, options, &client);
  if (!status.ok()) return Status(status.error_code(), "connecting: " + status.error_message());
  if (!client->SupportsAsync()) {
    return Status(StatusCode::UNIMPLEMENTED, job.case_name + " has no asynchronous calls");
  }
  Pipeline warmup(client.get(), job.depth);
  {
    Watchdog watchdog(job.case_name, kHangTimeout, [&warmup] { return warmup.completed(); });
    status = warmup.Run(job.warmup, Clock::time_point(), Clock::time_point::max());
  }
  if (!status.ok()) return Status(status.error_code(), "warm-up: " + status.error_message());

  Pipeline timed(client.get(), job.depth);
  Watchdog watchdog(job.case_name, kHangTimeout, [&timed] { return timed.completed(); });
  CpuReading before, after;
  status = ReadCpu(job.server_pid, &before);
  if (!status.ok()) return status;
  auto began = Clock::now();
  auto deadline = job.max_seconds > 0 ? began + std::chrono::duration_cast<Clock::duration>(
                                                    std::chrono::duration<double>(job.max_seconds))
                                      : Clock::time_point::max();
  auto minimum = began + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(job.min_seconds));
  status = timed.Run(job.calls, minimum, deadline);
  auto ended = Clock::now();
  if (!status.ok()) return status;
  status = ReadCpu(job.server_pid, &after);
  if (!status.ok()) return status;
  status = client->CheckPath();
  if (!status.ok()) return status;
  LatencyRecorder all = timed.recorder();
  Measurement& m = result->measurement;
  m.latency = all.Summarize(ended - began);
  double calls = static_cast<double>(all.count());
  m.client_cpu_us_per_call = 1e6 * (after.client - before.client) / calls;
  m.server_cpu_us_per_call = 1e6 * (after.server - before.server) / calls;
  return Status::OK;
}

}  // namespace notnets::bench
