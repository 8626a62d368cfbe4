// The idle-connections sweep: a holder process opens N notnets connections to the echo service
// (calling each once, so the server has accepted them) and leaves them idle while a second
// client process measures one connection. A fresh server per point: a server keeps the slots of
// closed connections in its table.
#include <algorithm>

#include "native_clients.h"
#include "payload.h"
#include "report.h"
#include "session.h"
#include "sweep.h"

namespace notnets::bench {
namespace {

constexpr char kCase[] = "notnets-native";
// Room for 10,000 idle connections with the smallest rings, plus the measured one.
constexpr uint64_t kPoolBytes = uint64_t{1} << 30;
constexpr uint32_t kMostIdle = 10000;

// Measures one point: `idle` connections held open by another process.
Status MeasurePoint(const AllOptions& options, uint32_t idle, Measurement* measurement) {
  CaseOptions case_options = MakeCaseOptions(options.common, kPoolBytes);
  // The holder is one client process: the server must take all its connections.
  case_options.server_words.push_back(NativeMaxConnectionsPerClientWord(kMostIdle + 1));
  std::unique_ptr<CaseSession> session;
  Status status = CaseSession::Open(kCase, case_options, &session);
  if (!status.ok()) return status;
  std::unique_ptr<ChildProcess> holder;
  status = session->Hold(idle, &holder);
  if (status.ok()) {
    Job job;
    job.calls = options.sweep_calls;
    job.warmup = std::min<uint64_t>(options.warmup, 2000);
    job.min_seconds = kPointMinSeconds;
    job.max_seconds = options.point_seconds;
    JobResult result;
    status = session->Run(job, &result);
    *measurement = result.measurement;
    Status stopped = holder->Stop();
    if (status.ok() && !stopped.ok()) {
      status = Status(stopped.error_code(), "idle connections: " + stopped.error_message());
    }
  }
  Status closed = session->Close();
  return status.ok() ? closed : status;
}

}  // namespace

Sweep RunIdleConnectionsSweep(const AllOptions& options, Failures* failures) {
  Sweep sweep{"idleconns", "idle_connections", {}};
  std::fprintf(stderr, "notnets-bench: idleconns sweep: %s\n", kCase);
  for (uint32_t idle : {1u, 10u, 100u, 1000u, kMostIdle}) {
    Measurement measurement;
    Status status = MeasurePoint(options, idle, &measurement);
    if (!status.ok()) {
      failures->Add(sweep.name + "/" + kCase + "/" + std::to_string(idle), status);
      break;
    }
    sweep.rows.push_back(
        SweepRow{kCase, static_cast<double>(idle), kEchoPayload.size(), measurement});
  }
  return sweep;
}

}  // namespace notnets::bench
