// A case brought up with several server processes serving one name (replicas) and several client
// processes whose timed phases are fixed in time (JobMode::kTimed): all calling together, or some
// joining later for a load step. The parent reads every server's CPU over the whole phase and,
// if asked, counts the servers' threads as they change.
#ifndef NOTNETS_BENCH_FLEET_H_
#define NOTNETS_BENCH_FLEET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "case.h"
#include "notnets/status.h"

namespace notnets::bench {

// One client process's timed phase, in seconds from the fleet's common start.
struct FleetClient {
  double start = 0;
  double stop = 2;
  // Untimed calls before its phase (made while it waits for the start, so none for a client
  // that joins at a load step: its warm-up would load the server before the step).
  uint64_t warmup = 200;
};

// What to run.
struct FleetPlan {
  std::string case_name;
  // Appended to the case's server arguments (see NativeWorkersWords).
  std::vector<std::string> server_words;
  int servers = 1;
  std::vector<FleetClient> clients;
  // Times, in seconds from the start, at which the latencies are split into windows.
  std::vector<double> splits;
  // Sample the servers' thread count (/proc/<pid>/status) every millisecond of the phase.
  bool watch_threads = false;
  // Pin the servers and the clients to CaseOptions' server and client CPUs, as the main table
  // does, for one client's latency; unpinned otherwise, for a fleet with more processes than
  // CPUs.
  bool pinned = false;
};

// Latencies and throughput of one window, over every client.
struct FleetWindow {
  double begin = 0;  // seconds from the start
  double end = 0;
  double calls = 0;
  double calls_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
};

// A change of the servers' thread count (all servers together).
struct ThreadSample {
  double at = 0;  // seconds from the start
  int threads = 0;
};

// What the fleet measured.
struct FleetResult {
  // The whole phase: from the start to the last client's stop.
  FleetWindow all;
  std::vector<FleetWindow> windows;
  // CPU time of all clients / all servers over their timed phases, per call made in them.
  double client_cpu_us_per_call = 0;
  double server_cpu_us_per_call = 0;
  // The calls per second of the slowest and the fastest client over its own phase: how evenly
  // the CPUs were shared.
  double min_client_calls_per_s = 0;
  double max_client_calls_per_s = 0;
  // The thread count at the start, then each change (watch_threads only).
  std::vector<ThreadSample> threads;
};

// Sets the case up, starts its servers and its clients, waits for them and stops everything. Fails
// if any process did, or if a client began its phase more than 10% of the phase late (then the
// clients did not call together).
Status RunFleet(const FleetPlan& plan, const CaseOptions& options, FleetResult* result);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_FLEET_H_
