// JobMode::kIdle: what idleness costs. After a warm-up, the client idles 1 s and times its next
// calls; then idles job.idle_seconds while the CPU time both processes use is measured, and times
// its next calls again.
#include <thread>

#include "cpu_clock.h"
#include "runners.h"
#include "watchdog.h"

namespace notnets::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Calls timed after each idle interval, the first included.
constexpr int kCallsAfterIdle = 3;
constexpr const char* kOrdinals[kCallsAfterIdle] = {"first", "second", "third"};

// Makes one call and returns its latency in microseconds.
Status TimedCall(EchoClient* client, double* micros) {
  auto before = Clock::now();
  Status status = client->Call();
  *micros = std::chrono::duration<double, std::micro>(Clock::now() - before).count();
  return status;
}

// Times kCallsAfterIdle calls and names them "<ordinal>_call_after_<label>_us".
Status TimeCallsAfter(EchoClient* client, const std::string& label, const std::string& case_name,
                      std::vector<Metric>* metrics) {
  Watchdog watchdog(case_name, kHangTimeout);
  for (int i = 0; i < kCallsAfterIdle; ++i) {
    double micros = 0;
    Status status = TimedCall(client, &micros);
    if (!status.ok()) return status;
    watchdog.Tick();
    metrics->push_back({std::string(kOrdinals[i]) + "_call_after_" + label + "_us", micros});
  }
  return Status::OK;
}

}  // namespace

Status RunIdleJob(Case* bench_case, const Job& job, JobResult* result) {
  ClientOptions options;
  options.payload_size = job.payload_size;
  std::unique_ptr<EchoClient> client;
  Status status = bench_case->Connect(job.server_args, job.endpoint, options, &client);
  if (!status.ok()) return Status(status.error_code(), "connecting: " + status.error_message());
  std::vector<Metric>& metrics = result->metrics;
  {
    Watchdog watchdog(job.case_name, kHangTimeout);
    for (uint64_t i = 0; i < job.warmup; ++i) {
      status = client->Call();
      if (!status.ok()) return Status(status.error_code(), "warm-up: " + status.error_message());
      watchdog.Tick();
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  status = TimeCallsAfter(client.get(), "1s", job.case_name, &metrics);
  if (!status.ok()) return status;

  CpuReading before, after;
  status = ReadCpu(job.server_pid, &before);
  if (!status.ok()) return status;
  auto began = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(job.idle_seconds));
  status = ReadCpu(job.server_pid, &after);
  if (!status.ok()) return status;
  double wall = std::chrono::duration<double>(Clock::now() - began).count();
  metrics.push_back({"idle_seconds", wall});
  metrics.push_back({"server_idle_cpu_pct_of_core", 100 * (after.server - before.server) / wall});
  metrics.push_back({"client_idle_cpu_pct_of_core", 100 * (after.client - before.client) / wall});
  status = TimeCallsAfter(client.get(), "idle", job.case_name, &metrics);
  if (!status.ok()) return status;
  status = client->CheckPath();
  if (!status.ok()) return status;
  result->measurement.latency.calls = static_cast<double>(2 * kCallsAfterIdle);
  return Status::OK;
}

}  // namespace notnets::bench
