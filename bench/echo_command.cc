// notnets-bench echo: the latency of an echo call, case by case.
#include <chrono>
#include <cstdio>

#include "commands.h"
#include "report.h"
#include "session.h"
#include "stats.h"
#include "watchdog.h"

namespace notnets::bench {
namespace {

// The case every other one is compared with.
constexpr char kBaseline[] = "grpc-http2-tcp";

// How long a case may go without completing a call before the benchmark gives up on it.
constexpr std::chrono::seconds kHangTimeout(10);

Status CallFailed(const char* what, uint64_t index, uint64_t count, const Status& status) {
  return Status(status.error_code(), std::string(what) + " " + std::to_string(index + 1) + " of " +
                                         std::to_string(count) + ": " + status.error_message());
}

// Makes `warmup` untimed calls, then `calls` timed ones, and summarizes the latter.
Status TimeCalls(const std::string& name, EchoClient* client, const EchoOptions& options,
                 LatencySummary* summary) {
  Watchdog watchdog(name, kHangTimeout);
  for (uint64_t i = 0; i < options.warmup; ++i) {
    Status status = client->Call();
    if (!status.ok()) return CallFailed("warm-up call", i, options.warmup, status);
    watchdog.Tick();
  }
  LatencyRecorder recorder(options.calls);
  auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < options.calls; ++i) {
    auto before = std::chrono::steady_clock::now();
    Status status = client->Call();
    auto after = std::chrono::steady_clock::now();
    if (!status.ok()) return CallFailed("call", i, options.calls, status);
    recorder.Record(after - before);
    watchdog.Tick();
  }
  *summary = recorder.Summarize(std::chrono::steady_clock::now() - start);
  return Status::OK;
}

// Runs case `name` from setup to teardown.
Status RunCase(const std::string& name, const EchoOptions& options, LatencySummary* summary) {
  std::unique_ptr<CaseSession> session;
  Status status = CaseSession::Open(name, CaseOptions{options.common.pool_name}, &session);
  if (!status.ok()) return status;
  status = TimeCalls(name, session->client(), options, summary);
  Status closed = session->Close();
  return status.ok() ? closed : status;
}

}  // namespace

int RunEcho(const EchoOptions& options) {
  if (!options.common.csv) {
    PrintRunHeader(options.common.command_line,
                   std::to_string(options.calls) + " timed calls per case after " +
                       std::to_string(options.warmup) + " warm-up calls; request \"" +
                       std::string(kEchoPayload) + "\"; server in a separate process");
  }
  std::vector<CaseResult> results;
  std::vector<std::string> failed;
  for (const std::string& name : options.cases) {
    CaseResult result{name, {}};
    Status status = RunCase(name, options, &result.latency);
    if (status.ok()) {
      results.push_back(result);
    } else {
      std::fprintf(stderr, "notnets-bench: case %s: FAILED: %s\n", name.c_str(),
                   status.ToString().c_str());
      failed.push_back(name);
    }
  }

  if (options.common.csv) {
    PrintLatencyCsv(results);
  } else {
    PrintLatencyTable(results);
    if (failed.empty()) PrintComparison(results, kBaseline);
  }
  if (failed.empty()) return 0;
  std::string names;
  for (const std::string& name : failed) {
    if (!names.empty()) names += ", ";
    names += name;
  }
  std::fprintf(stderr, "notnets-bench: %zu of %zu cases failed: %s\n", failed.size(),
               options.cases.size(), names.c_str());
  return 1;
}

}  // namespace notnets::bench
