// JobMode::kLatency: each thread connects its own client and makes one call at a time. All
// threads finish their warm-up before the timed phase starts together. A client lives and dies
// on its thread: some (Cap'n Proto's) are bound to the thread's event loop.
#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cpu_clock.h"
#include "runners.h"
#include "watchdog.h"

namespace notnets::bench {
namespace {

using Clock = std::chrono::steady_clock;

// One thread's client and what it measured.
struct Worker {
  std::unique_ptr<EchoClient> client;
  LatencyRecorder recorder;
  // Connect to first response of each client of Job::connects (first worker only).
  LatencyRecorder connects;
  Clock::duration connects_time{};
  Status status;
  // When its last timed call returned.
  Clock::time_point ended;
  // Calls completed, warm-up included; read by the watchdog.
  alignas(64) std::atomic<uint64_t> progress{0};
};

// What all threads share.
struct Start {
  std::mutex connect_mutex;  // Case::Connect runs on one thread at a time
  std::atomic<uint32_t> ready{0};
  std::atomic<bool> go{false};
  std::atomic<uint32_t> finished{0};
  // Set once the timed phase is over everywhere: clients may then be disconnected.
  std::atomic<bool> release{false};
  // Written before `go`: calls go on until `calls` are done and `minimum` has passed, and stop at
  // `deadline` in any case.
  Clock::time_point minimum;
  Clock::time_point deadline = Clock::time_point::max();
};

// `status` prefixed with which call failed.
Status CallFailed(const char* what, uint64_t index, uint64_t count, const Status& status) {
  return Status(status.error_code(), std::string(what) + " " + std::to_string(index + 1) + " of " +
                                         std::to_string(count) + ": " + status.error_message());
}

// Connects job.connects clients one at a time, each closed after its first call, and records
// how long each took from Connect to that call's response: what a short-lived client pays.
Status TimeConnects(Case* bench_case, const Job& job, const ClientOptions& options,
                    Worker* worker) {
  worker->connects = LatencyRecorder(job.connects);
  auto began = Clock::now();
  for (uint32_t i = 0; i < job.connects; ++i) {
    std::unique_ptr<EchoClient> client;
    auto before = Clock::now();
    Status status = bench_case->Connect(job.server_args, job.endpoint, options, &client);
    if (status.ok()) status = client->Call();
    auto after = Clock::now();
    if (!status.ok()) return CallFailed("connection", i, job.connects, status);
    worker->connects.Record(after - before);
    worker->progress.fetch_add(1, std::memory_order_relaxed);
  }
  worker->connects_time = Clock::now() - began;
  return Status::OK;
}

// Connects (timing job.connects connections first if `first`), warms up, reports ready and, once
// all are, runs the timed calls.
Status RunCalls(Case* bench_case, const Job& job, bool first, Start* start, Worker* worker) {
  std::unique_ptr<EchoClient>& client = worker->client;
  Status status;
  {
    std::lock_guard<std::mutex> lock(start->connect_mutex);
    ClientOptions options;
    options.payload_size = job.payload_size;
    if (first && !bench_case->OneClientOnly()) {
      status = TimeConnects(bench_case, job, options, worker);
    }
    if (status.ok()) status = bench_case->Connect(job.server_args, job.endpoint, options, &client);
  }
  if (!status.ok()) status = Status(status.error_code(), "connecting: " + status.error_message());
  for (uint64_t i = 0; i < job.warmup && status.ok(); ++i) {
    status = client->Call();
    if (!status.ok()) status = CallFailed("warm-up call", i, job.warmup, status);
    worker->progress.fetch_add(1, std::memory_order_relaxed);
  }
  start->ready.fetch_add(1, std::memory_order_release);
  while (!start->go.load(std::memory_order_acquire)) std::this_thread::yield();
  if (!status.ok()) return status;
  worker->recorder = LatencyRecorder(job.calls);
  for (uint64_t i = 0;; ++i) {
    auto before = Clock::now();
    status = client->Call();
    auto after = Clock::now();
    if (!status.ok()) return CallFailed("timed call", i, job.calls, status);
    worker->recorder.Record(after - before);
    worker->ended = after;
    worker->progress.fetch_add(1, std::memory_order_relaxed);
    if ((i + 1 >= job.calls && after >= start->minimum) || after >= start->deadline) break;
  }
  return client->CheckPath();
}

}  // namespace

Status RunLatencyJob(Case* bench_case, const Job& job, JobResult* result) {
  std::vector<std::unique_ptr<Worker>> workers;
  for (uint32_t i = 0; i < job.threads; ++i) workers.push_back(std::make_unique<Worker>());
  Watchdog watchdog(job.case_name, kHangTimeout, [&workers] {
    uint64_t sum = 0;
    for (const auto& worker : workers) sum += worker->progress.load(std::memory_order_relaxed);
    return sum;
  });
  Start start;
  std::vector<std::thread> threads;
  for (auto& worker : workers) {
    bool first = threads.empty();
    threads.emplace_back([bench_case, &job, &start, first, worker = worker.get()] {
      worker->status = RunCalls(bench_case, job, first, &start, worker);
      start.finished.fetch_add(1, std::memory_order_release);
      start.finished.notify_all();
      start.release.wait(false, std::memory_order_acquire);
      worker->client.reset();
    });
  }
  while (start.ready.load(std::memory_order_acquire) < job.threads) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CpuReading before, after;
  Status cpu = ReadCpu(job.server_pid, &before);
  auto began = Clock::now();
  start.minimum = began + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(job.min_seconds));
  if (job.max_seconds > 0) {
    start.deadline = began + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(job.max_seconds));
  }
  start.go.store(true, std::memory_order_release);
  // Blocks without polling: a waking thread would take a CPU from the spinning client or server.
  for (uint32_t finished;
       (finished = start.finished.load(std::memory_order_acquire)) < job.threads;) {
    start.finished.wait(finished, std::memory_order_acquire);
  }
  if (cpu.ok()) cpu = ReadCpu(job.server_pid, &after);
  Clock::time_point ended = began;
  for (const auto& worker : workers) ended = std::max(ended, worker->ended);
  start.release.store(true, std::memory_order_release);
  start.release.notify_all();
  for (std::thread& thread : threads) thread.join();

  LatencyRecorder all;
  for (const auto& worker : workers) {
    if (!worker->status.ok()) return worker->status;
    all.Merge(worker->recorder);
  }
  if (!cpu.ok()) return cpu;
  Measurement& m = result->measurement;
  m.latency = all.Summarize(ended - began);
  double calls = static_cast<double>(all.count());
  m.client_cpu_us_per_call = 1e6 * (after.client - before.client) / calls;
  m.server_cpu_us_per_call = 1e6 * (after.server - before.server) / calls;
  if (job.cdf) {
    for (auto [percentile, micros] : all.Cdf()) result->cdf.push_back({percentile, micros});
  }
  if (job.connects > 0 && workers.front()->connects.count() > 0) {
    LatencySummary connects = workers.front()->connects.Summarize(workers.front()->connects_time);
    result->metrics.push_back({"connect_p50_us", connects.p50_us});
    result->metrics.push_back({"connect_p99_us", connects.p99_us});
  }
  return Status::OK;
}

}  // namespace notnets::bench
