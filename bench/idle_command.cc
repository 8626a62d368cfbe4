// notnets-bench idle: what an idle notnets server costs, and what its first call after idling
// costs.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "commands.h"
#include "report.h"
#include "session.h"
#include "watchdog.h"

namespace notnets::bench {
namespace {

constexpr char kCase[] = "notnets-native";
constexpr std::chrono::seconds kHangTimeout(10);
// Idle time before the CPU measurement starts, for the server to settle into its idle state.
constexpr std::chrono::seconds kSettle(1);
// Calls timed after the idle interval, the first included.
constexpr int kCallsAfterIdle = 5;

// Reads the CPU time, user plus system, that process `pid` has used so far, in seconds.
Status ReadCpuSeconds(pid_t pid, double* seconds) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::ifstream file(path);
  std::string stat;
  if (!std::getline(file, stat)) return Status(StatusCode::INTERNAL, "cannot read " + path);
  // Fields after the parenthesized command name, which may hold spaces: state is field 3,
  // utime 14 and stime 15.
  std::istringstream fields(stat.substr(stat.rfind(')') + 1));
  std::string skipped;
  for (int field = 3; field < 14; ++field) fields >> skipped;
  unsigned long long utime = 0, stime = 0;
  if (!(fields >> utime >> stime)) return Status(StatusCode::INTERNAL, "cannot parse " + path);
  *seconds = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return Status::OK;
}

// Makes one call and returns its latency in microseconds.
Status TimedCall(EchoClient* client, Watchdog* watchdog, double* micros) {
  auto before = std::chrono::steady_clock::now();
  Status status = client->Call();
  auto after = std::chrono::steady_clock::now();
  watchdog->Tick();
  *micros = std::chrono::duration<double, std::micro>(after - before).count();
  return status;
}

// Calls, idles and measures, appending the results to `metrics`.
Status MeasureIdle(CaseSession* session, const IdleOptions& options, std::vector<Metric>* metrics) {
  metrics->push_back({"idle_seconds", options.seconds});
  double micros = 0;
  {
    Watchdog watchdog(kCase, kHangTimeout);
    Status status = TimedCall(session->client(), &watchdog, &micros);
    if (!status.ok()) return status;
  }
  metrics->push_back({"call_before_idle_us", micros});
  std::this_thread::sleep_for(kSettle);
  double cpu_before = 0, cpu_after = 0;
  Status status = ReadCpuSeconds(session->server_pid(), &cpu_before);
  if (!status.ok()) return status;
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds) - kSettle);
  status = ReadCpuSeconds(session->server_pid(), &cpu_after);
  if (!status.ok()) return status;
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics->push_back({"server_cpu_pct_of_one_core", 100 * (cpu_after - cpu_before) / wall});

  Watchdog watchdog(kCase, kHangTimeout);
  for (int i = 1; i <= kCallsAfterIdle; ++i) {
    status = TimedCall(session->client(), &watchdog, &micros);
    if (!status.ok()) return status;
    metrics->push_back(
        {i == 1 ? "first_call_after_idle_us" : "call_" + std::to_string(i) + "_after_idle_us",
         micros});
  }
  return Status::OK;
}

}  // namespace

int RunIdle(const IdleOptions& options) {
  if (!options.common.csv) {
    PrintRunHeader(options.common.command_line, "server CPU measured from " +
                                                    std::to_string(kSettle.count()) +
                                                    " s into the idle interval to its end");
  }
  std::unique_ptr<CaseSession> session;
  Status status = CaseSession::Open(kCase, CaseOptions{options.common.pool_name}, &session);
  std::vector<Metric> metrics;
  if (status.ok()) status = MeasureIdle(session.get(), options, &metrics);
  if (session != nullptr) {
    Status closed = session->Close();
    if (status.ok()) status = closed;
  }
  if (!status.ok()) {
    std::fprintf(stderr, "notnets-bench: idle (case %s): FAILED: %s\n", kCase,
                 status.ToString().c_str());
    return 1;
  }
  if (options.common.csv) {
    PrintMetricsCsv(metrics);
  } else {
    PrintMetricsTable(metrics);
  }
  return 0;
}

}  // namespace notnets::bench
