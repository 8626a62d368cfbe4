// The parts of "notnets-bench all" that are not sweeps (see sweep.h), and what the run collects.
#ifndef NOTNETS_BENCH_ALL_SECTIONS_H_
#define NOTNETS_BENCH_ALL_SECTIONS_H_

#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "failures.h"
#include "replicas_section.h"
#include "report.h"
#include "server_kill_section.h"
#include "sweep.h"
#include "workers_step_section.h"

namespace notnets::bench {

// One case's latency CDF.
struct CaseCdf {
  std::string name;
  std::vector<CdfPoint> points;
};

// Everything a run of "notnets-bench all" measured.
struct AllResults {
  std::vector<CaseResult> main;
  std::vector<CaseCdf> cdfs;
  std::vector<Sweep> sweeps;
  std::vector<CaseMetrics> idle;
  std::vector<ReplicaRow> replicas;
  NewReplicaTimes new_replica;
  std::vector<StepRow> workers_step;
  std::vector<KillRow> server_kill;
};

// Every registered case, one client thread, `calls` calls after `warmup`: the main table.
void RunMainSection(const AllOptions& options, AllResults* results, Failures* failures);

// The idle cost (see MeasureIdle) of notnets-native and grpc-http2-tcp.
void RunIdleSection(const AllOptions& options, AllResults* results, Failures* failures);

// Prints the targets with the figures of this run: zero-copy 1 MiB against 64 B, peak
// pipelined throughput, notnets against iceoryx and Cap'n Proto, 10,000 idle connections; then
// the gRPC integration's (PrintGrpcTargets) and the placement targets (PrintPlacementTargets).
// Only targets whose figures the run has, and only the headings above them.
void PrintTargets(const AllResults& results, FILE* out);

// Prints the gRPC integration's targets with the figures in `results`, for the cases that are
// there: notnets-grpc-sync's p50 and p99; how much lower the p50 of notnets-grpc-sync, -callback
// and -cq is than grpc-http2-tcp's; and how many times grpc-http2-tcp-stream's (-stream-bidi's)
// messages per second notnets-grpc-stream (-stream-bidi) made. Prints nothing if none are.
void PrintGrpcTargets(const std::vector<CaseResult>& results, FILE* out);

// Prints the pool's placement targets with the figures in `results`, for the cases that are
// there: the p50 of notnets-native-hosts (emulated hosts) and of notnets-native-noncoherent
// (cache maintenance on every publish and consume) against notnets-native's, and of
// notnets-native-hosts-noncoherent against notnets-native-hosts'. Prints nothing if none are.
void PrintPlacementTargets(const std::vector<CaseResult>& results, FILE* out);

// The sweep called `name` in `results`, or nullptr.
const Sweep* FindSweep(const AllResults& results, const std::string& name);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_ALL_SECTIONS_H_
