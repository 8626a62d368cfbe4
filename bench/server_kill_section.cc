// Server kill: each trial starts a notnets-native server, a client process that makes calls the
// server holds, then kills the server with SIGKILL and writes the time of the kill for the
// client, which reports when each call failed. Each trial has a pool and a server of its own: a
// killed server's pool is reclaimed by its survivors, which is not what is measured here.
#include "server_kill_section.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "notnets/pool.h"
#include "runners.h"
#include "session.h"
#include "start_file.h"

namespace notnets::bench {
namespace {

constexpr int kTrials = 5;
constexpr uint32_t kHeldCalls = 4;
constexpr double kSameKernelTargetMs = 100;
// A client process that has not reported this long after the kill is given up on (its own
// limit, 60 s, ends it sooner).
constexpr int kClientFinishTimeoutMs = 90000;

// The server as pid 1 of a pid namespace of its own, with its own /proc, as in a container;
// --kill-child: SIGKILL of unshare kills the namespace, as kill -9 of a container's init does
// (tests/hosts_test.cc starts its peers the same way).
const std::vector<std::string> kOwnPidNamespace = {"/usr/bin/unshare", "--pid", "--fork",
                                                   "--mount-proc", "--kill-child"};

double LeasePeriodMs() { return static_cast<double>(PoolOptions().lease_period.count()); }

// One kill of the server of `row`'s case, started through `server_launcher`; appends the
// client's figures to `row`.
Status RunTrial(const AllOptions& options, const std::vector<std::string>& server_launcher,
                KillRow* row) {
  CaseOptions case_options = MakeCaseOptions(options.common);
  case_options.server_launcher = server_launcher;
  std::unique_ptr<CaseSession> session;
  Status status = CaseSession::Open(row->case_name, case_options, &session);
  if (!status.ok()) return status;
  StartFile kill_file;
  Job job;
  job.mode = JobMode::kOutstanding;
  job.depth = kHeldCalls;
  job.start_file = kill_file.path();
  std::unique_ptr<ChildProcess> client;
  status = session->Start(job, &client);
  if (!status.ok()) return Status(status.error_code(), "client: " + status.error_message());
  int64_t killed_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  session->KillServer();
  status = kill_file.Publish(killed_ns);
  if (!status.ok()) return status;
  std::vector<std::string> lines;
  status = client->Finish(kClientFinishTimeoutMs, &lines);
  if (!status.ok()) return Status(status.error_code(), "client: " + status.error_message());
  JobResult result;
  status = JobResult::FromLines(lines, &result);
  if (!status.ok()) return status;
  for (const Metric& metric : result.metrics) {
    if (metric.name == kFailedAfterMetric) row->failed_after_ms.push_back(metric.value);
  }
  // The server was killed: Close only removes the pool.
  session->Close();
  return Status::OK;
}

// The value at quantile `q` of sorted `values`, nearest rank.
double Quantile(const std::vector<double>& values, double q) {
  size_t rank = static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values[rank];
}

}  // namespace

std::vector<KillRow> RunServerKillSection(const AllOptions& options, Failures* failures) {
  // Where the server runs: the row it fills, and the words that start it.
  struct Placement {
    KillRow row;
    std::vector<std::string> server_launcher;
  };
  std::vector<Placement> placements;
  if (::geteuid() == 0) {
    placements.push_back({{"same kernel, server in its own pid namespace",
                           "notnets-native",
                           kSameKernelTargetMs,
                           {}},
                          kOwnPidNamespace});
    placements.push_back(
        {{"two emulated hosts, by lease", "notnets-native-hosts", 1.5 * LeasePeriodMs(), {}}, {}});
  } else {
    std::fprintf(stderr,
                 "notnets-bench: server-kill: pid namespaces and emulated hosts need root; the "
                 "server runs in this pid namespace, and the hosts are left out\n");
    placements.push_back(
        {{"same kernel, one pid namespace (not root)", "notnets-native", kSameKernelTargetMs, {}},
         {}});
  }
  std::vector<KillRow> rows;
  for (Placement& placement : placements) {
    KillRow& row = placement.row;
    for (int trial = 0; trial < kTrials; ++trial) {
      std::fprintf(stderr, "notnets-bench: server-kill: %s, trial %d\n", row.placement.c_str(),
                   trial + 1);
      Status status = RunTrial(options, placement.server_launcher, &row);
      if (!status.ok()) {
        failures->Add("server-kill/" + row.case_name + "/" + std::to_string(trial + 1), status);
      }
    }
    if (!row.failed_after_ms.empty()) rows.push_back(row);
  }
  return rows;
}

void PrintServerKill(const std::vector<KillRow>& rows, FILE* out) {
  if (rows.empty()) return;
  std::fprintf(out,
               "\nserver-kill: ms from kill -9 of the server to each outstanding call's "
               "UNAVAILABLE, %d trials of %u held calls; lease period %.0f ms\n",
               kTrials, kHeldCalls, LeasePeriodMs());
  std::fprintf(out, "%-56s %-20s %6s %9s %9s %9s %10s\n", "placement", "case", "calls", "min_ms",
               "p50_ms", "max_ms", "target_ms");
  for (const KillRow& row : rows) {
    std::vector<double> sorted = row.failed_after_ms;
    std::sort(sorted.begin(), sorted.end());
    std::fprintf(out, "%-56s %-20s %6zu %9.1f %9.1f %9.1f %10.0f  max %s target\n",
                 row.placement.c_str(), row.case_name.c_str(), sorted.size(), sorted.front(),
                 Quantile(sorted, 0.5), sorted.back(), row.target_ms,
                 sorted.back() <= row.target_ms ? "within" : "OVER");
  }
}

void PrintServerKillCsv(const std::vector<KillRow>& rows, FILE* out) {
  std::fprintf(out, "placement,case,calls,min_ms,p50_ms,max_ms,target_ms\n");
  for (const KillRow& row : rows) {
    std::vector<double> sorted = row.failed_after_ms;
    std::sort(sorted.begin(), sorted.end());
    std::fprintf(out, "\"%s\",%s,%zu,%.3f,%.3f,%.3f,%.0f\n", row.placement.c_str(),
                 row.case_name.c_str(), sorted.size(), sorted.front(), Quantile(sorted, 0.5),
                 sorted.back(), row.target_ms);
  }
}

}  // namespace notnets::bench
