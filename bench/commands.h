// The subcommands of notnets-bench that people run (the hidden "serve" and "client" are in
// process.h and runners.h).
#ifndef NOTNETS_BENCH_COMMANDS_H_
#define NOTNETS_BENCH_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "case.h"
#include "failures.h"
#include "job.h"

namespace notnets::bench {

// The case every other one is compared with.
inline constexpr char kBaseline[] = "grpc-http2-tcp";

// The cases that "--cases grpc" stands for: gRPC's client APIs and streams over the pool beside
// the same over HTTP/2 on TCP (issue #12's speed targets). Those not built are left out.
inline const std::vector<std::string> kGrpcCases = {
    "notnets-grpc-sync",    "notnets-grpc-callback", "notnets-grpc-cq",
    "notnets-grpc-bridged", "notnets-grpc-stream",   "notnets-grpc-stream-bidi",
    "grpc-http2-tcp",       "grpc-http2-tcp-stream", "grpc-http2-tcp-stream-bidi"};

// What every subcommand needs.
struct CommonOptions {
  // The command as typed, for the report's header.
  std::string command_line;
  // The notnets pool to create for the cases that use one; removed at the end.
  std::string pool_name;
  // Print CSV instead of a table.
  bool csv = false;
  // Pin the client processes to one CPU and the server to another (if 2 are usable).
  bool pin = true;
};

// The CaseOptions for `common`: its pool, a pool of `pool_bytes` (0: notnets' default), and the
// first two usable CPUs for client and server if `common.pin`.
CaseOptions MakeCaseOptions(const CommonOptions& common, uint64_t pool_bytes = 0);

// "client on CPU a, server on CPU b" for `options`, or "client and server not pinned".
std::string DescribePinning(const CaseOptions& options);

// Options of "notnets-bench echo".
struct EchoOptions {
  CommonOptions common;
  uint64_t calls = 200000;
  uint64_t warmup = 10000;
  // Clients connected, called once and closed before the warm-up, to time connection set-up
  // (Job::connects); 0 for none.
  uint32_t connects = 100;
  // Names of the cases to run, in order; each must be registered.
  std::vector<std::string> cases;
};

// Options of "notnets-bench idle".
struct IdleOptions {
  CommonOptions common;
  // How long client and server stay idle while their CPU use is measured.
  double seconds = 10;
  std::vector<std::string> cases = {"notnets-native", "grpc-http2-tcp"};
};

// Options of "notnets-bench all".
struct AllOptions {
  CommonOptions common;
  // Timed calls per case in the main table, after `warmup` untimed ones.
  uint64_t calls = 100000;
  uint64_t warmup = 5000;
  // Timed calls per point of a sweep, and the most seconds a point's timed phase may last.
  uint64_t sweep_calls = 50000;
  double point_seconds = 2;
  // The most seconds a case's timed phase in the main table may last.
  double case_seconds = 15;
  // Idle interval of the idle-cost measurement.
  double idle_seconds = 10;
  // Folder for the CSVs and PNGs; empty for ./results/<timestamp>.
  std::string out;
  // Which parts to run (see kAllSections); all if empty.
  std::vector<std::string> sections;
};

// Sets up case `name`, starts its server, runs `job` in a client process and stops everything.
Status RunLatencyCase(const std::string& name, const CaseOptions& case_options, const Job& job,
                      JobResult* result);

// Runs the idle-cost job (JobMode::kIdle, `seconds` idle) against case `name`.
Status MeasureIdle(const std::string& name, const CommonOptions& common, double seconds,
                   std::vector<Metric>* metrics);

// Runs each case with client and server in separate processes, times `calls` echo calls after
// `warmup` untimed ones, and prints the latency report. Returns 0, or 1 if any case failed (each
// failure is named on stderr and the comparison with gRPC is left out).
int RunEcho(const EchoOptions& options);

// For each case: the CPU use of an idle client and server, and the latency of the first calls
// after 1 s and after `seconds` of idleness. Returns 0, or 1 on failure.
int RunIdle(const IdleOptions& options);

// The parts of "notnets-bench all", in running order.
inline const std::vector<std::string> kAllSections = {"main",     "size",         "clients",
                                                      "pipeline", "idleconns",    "idle",
                                                      "replicas", "workers-step", "server-kill"};

// True if every name is in kAllSections; names the first that is not on stderr.
bool ValidAllSections(const std::vector<std::string>& sections);

// Every case, every sweep and the idle cost, as tables, CSVs and PNGs (see Usage in main.cc).
// Returns 0, or 1 if anything failed (then no comparison and no plot).
int RunAll(const AllOptions& options);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_COMMANDS_H_
