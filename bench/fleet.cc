#include "fleet.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <thread>

#include "cpu_clock.h"
#include "histogram.h"
#include "job.h"
#include "process.h"
#include "runners.h"
#include "start_file.h"

namespace notnets::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kReadyTimeoutMs = 20000;
constexpr int kClientSlackMs = 120000;
// From the start file's writing to the common start: time for every waiting client, which polls
// the file every millisecond, to read it.
constexpr double kLeadSeconds = 0.05;
// How much of its phase a client may miss by starting late, before the run counts as failed.
constexpr double kLateTolerance = 0.1;

Clock::duration Seconds(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

Clock::time_point After(Clock::time_point start, double seconds) {
  return start + Seconds(seconds);
}

int64_t Nanos(Clock::duration duration) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count();
}

// The CPU seconds of every server so far.
Status ServersCpu(const std::vector<std::unique_ptr<ChildProcess>>& servers, double* seconds) {
  *seconds = 0;
  for (const auto& server : servers) {
    double one = 0;
    Status status = ProcessCpuSeconds(server->pid(), &one);
    if (!status.ok()) return status;
    *seconds += one;
  }
  return Status::OK;
}

// The threads of every server now, from /proc; 0 for a server that cannot be read.
int ServersThreads(const std::vector<std::unique_ptr<ChildProcess>>& servers) {
  int threads = 0;
  for (const auto& server : servers) {
    std::ifstream status("/proc/" + std::to_string(server->pid()) + "/status");
    std::string word;
    while (status >> word) {
      if (word == "Threads:") {
        int count = 0;
        if (status >> count) threads += count;
        break;
      }
    }
  }
  return threads;
}

// Waits until `until`, sampling the servers' threads every millisecond if `samples` is set.
void Watch(const std::vector<std::unique_ptr<ChildProcess>>& servers, Clock::time_point start,
           Clock::time_point until, std::vector<ThreadSample>* samples) {
  if (samples == nullptr) {
    std::this_thread::sleep_until(until);
    return;
  }
  for (Clock::time_point now = Clock::now(); now < until; now = Clock::now()) {
    int threads = ServersThreads(servers);
    if (samples->empty() || samples->back().threads != threads) {
      samples->push_back({std::chrono::duration<double>(now - start).count(), threads});
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Fills a window's figures from its merged latencies.
void Summarize(const LatencyHistogram& latencies, FleetWindow* window) {
  window->calls = static_cast<double>(latencies.count());
  double seconds = window->end - window->begin;
  window->calls_per_s = seconds > 0 ? window->calls / seconds : 0;
  window->p50_us = latencies.QuantileUs(0.50);
  window->p99_us = latencies.QuantileUs(0.99);
}

}  // namespace

Status RunFleet(const FleetPlan& plan, const CaseOptions& options, FleetResult* result) {
  std::unique_ptr<Case> bench_case = MakeCase(plan.case_name);
  if (bench_case == nullptr) {
    return Status(StatusCode::INVALID_ARGUMENT, "there is no case named " + plan.case_name);
  }
  std::vector<std::string> server_args;
  Status status = bench_case->Setup(options, &server_args);
  if (!status.ok()) return status;
  server_args.insert(server_args.end(), plan.server_words.begin(), plan.server_words.end());
  std::vector<std::string> serve_words = {plan.case_name};
  serve_words.insert(serve_words.end(), server_args.begin(), server_args.end());
  // Declared after the case: destroyed (killed) before the case removes what they share.
  std::vector<std::unique_ptr<ChildProcess>> servers;
  for (int i = 0; i < plan.servers; ++i) {
    servers.push_back(std::make_unique<ChildProcess>());
    status = servers.back()->Start("serve", serve_words, kReadyTimeoutMs,
                                   plan.pinned ? options.server_cpu : -1,
                                   bench_case->Launcher("serve", server_args));
    if (!status.ok()) return Status(status.error_code(), "server: " + status.error_message());
  }

  StartFile start_file;
  double last_stop = 0;
  std::vector<std::unique_ptr<ChildProcess>> clients;
  for (const FleetClient& phase : plan.clients) {
    Job job;
    job.mode = JobMode::kTimed;
    job.case_name = plan.case_name;
    job.server_args = server_args;
    job.endpoint = servers.front()->text();
    job.server_pid = 0;
    job.warmup = phase.warmup;
    job.start_file = start_file.path();
    job.start_ns = Nanos(Seconds(phase.start));
    job.stop_ns = Nanos(Seconds(phase.stop));
    for (double split : plan.splits) job.splits_ns.push_back(Nanos(Seconds(split)));
    last_stop = std::max(last_stop, phase.stop);
    clients.push_back(std::make_unique<ChildProcess>());
    status = clients.back()->Start("client", job.ToWords(), kReadyTimeoutMs,
                                   plan.pinned ? options.client_cpu : -1,
                                   bench_case->Launcher("client", server_args));
    if (!status.ok()) return Status(status.error_code(), "client: " + status.error_message());
  }

  // Every client has connected and warmed up (it reports ready only then).
  Clock::time_point start = After(Clock::now(), kLeadSeconds);
  status = start_file.Publish(Nanos(start.time_since_epoch()));
  if (!status.ok()) return status;
  std::this_thread::sleep_until(start);
  double servers_before = 0, servers_after = 0;
  status = ServersCpu(servers, &servers_before);
  if (!status.ok()) return status;
  Watch(servers, start, After(start, last_stop), plan.watch_threads ? &result->threads : nullptr);
  status = ServersCpu(servers, &servers_after);
  if (!status.ok()) return status;

  std::vector<double> bounds = {0};
  bounds.insert(bounds.end(), plan.splits.begin(), plan.splits.end());
  bounds.push_back(last_stop);
  std::vector<LatencyHistogram> windows(bounds.size() - 1);
  LatencyHistogram all;
  double client_cpu_seconds = 0;
  for (size_t i = 0; i < clients.size(); ++i) {
    std::vector<std::string> lines;
    int timeout_ms = kClientSlackMs + static_cast<int>(1000 * last_stop);
    status = clients[i]->Finish(timeout_ms, &lines);
    JobResult client;
    if (status.ok()) status = JobResult::FromLines(lines, &client);
    if (!status.ok()) return Status(status.error_code(), "client: " + status.error_message());
    const Measurement& m = client.measurement;
    double phase = plan.clients[i].stop - plan.clients[i].start;
    if (phase - m.latency.wall_seconds > kLateTolerance * phase) {
      return Status(StatusCode::DEADLINE_EXCEEDED, "a client began its phase late: it called for " +
                                                       std::to_string(m.latency.wall_seconds) +
                                                       " s of " + std::to_string(phase) + " s");
    }
    client_cpu_seconds += m.client_cpu_us_per_call * m.latency.calls / 1e6;
    double rate = m.latency.calls_per_s;
    if (i == 0 || rate < result->min_client_calls_per_s) result->min_client_calls_per_s = rate;
    result->max_client_calls_per_s = std::max(result->max_client_calls_per_s, rate);
    for (size_t w = 0; w < windows.size(); ++w) {
      LatencyHistogram latencies;
      latencies.AddMetrics(TimedWindowPrefix(w), client.metrics);
      windows[w].Merge(latencies);
      all.Merge(latencies);
    }
  }
  for (auto& server : servers) {
    status = server->Stop();
    if (!status.ok()) return Status(status.error_code(), "server: " + status.error_message());
  }

  result->all.begin = 0;
  result->all.end = last_stop;
  Summarize(all, &result->all);
  for (size_t w = 0; w < windows.size(); ++w) {
    FleetWindow window;
    window.begin = bounds[w];
    window.end = bounds[w + 1];
    Summarize(windows[w], &window);
    result->windows.push_back(window);
  }
  double calls = std::max(1.0, result->all.calls);
  result->client_cpu_us_per_call = 1e6 * client_cpu_seconds / calls;
  result->server_cpu_us_per_call = 1e6 * (servers_after - servers_before) / calls;
  return Status::OK;
}

}  // namespace notnets::bench
