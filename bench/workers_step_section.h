// The "workers-step" section of "notnets-bench all": a load step from 1 client process to 8
// against a server with a fixed pool of workers, one whose workers scale with the load, and
// gRPC over HTTP/2: how soon the server adds threads, and the latency before, during and after.
#ifndef NOTNETS_BENCH_WORKERS_STEP_SECTION_H_
#define NOTNETS_BENCH_WORKERS_STEP_SECTION_H_

#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "failures.h"
#include "fleet.h"

namespace notnets::bench {

// One server under the step.
struct StepRow {
  std::string case_name;
  // "fixed 4", "1..4" or "grpc".
  std::string workers;
  FleetResult fleet;
};

// Runs the step against each server; a failed one is recorded as "workers-step/<case>/<workers>".
std::vector<StepRow> RunWorkersStepSection(const AllOptions& options, Failures* failures);

// Prints, for each server, its threads over the step and the latency of each window.
void PrintWorkersStep(const std::vector<StepRow>& rows, FILE* out);

// Writes one CSV row per server and window.
void PrintWorkersStepCsv(const std::vector<StepRow>& rows, FILE* out);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_WORKERS_STEP_SECTION_H_
