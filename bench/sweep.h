// Sweeps: one variable changed step by step (request size, client threads, calls outstanding,
// idle connections) for a few cases, each point measured by its own client process.
#ifndef NOTNETS_BENCH_SWEEP_H_
#define NOTNETS_BENCH_SWEEP_H_

#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "failures.h"
#include "job.h"

namespace notnets::bench {

// The shortest timed phase of a point (see Job::min_seconds): long enough to read the server's
// CPU time within 1%.
inline constexpr double kPointMinSeconds = 0.5;

// One measured point.
struct SweepRow {
  std::string case_name;
  double x;
  // Bytes in each request (and reply).
  size_t payload_size;
  Measurement measurement;
};

// A whole sweep.
struct Sweep {
  // Short name: the CSV is <name>.csv (see results.h).
  std::string name;
  // The swept variable, as the CSV's second column names it ("payload_bytes").
  std::string x_name;
  std::vector<SweepRow> rows;
};

// Request size 16 B to 4 MiB: notnets copying, zero-copy (whole payload and stamps only), gRPC.
Sweep RunSizeSweep(const AllOptions& options, Failures* failures);

// 1 to 64 client threads, each with its own connection, against one server.
Sweep RunClientsSweep(const AllOptions& options, Failures* failures);

// 1 to 64 asynchronous calls outstanding from one client thread, one server worker.
Sweep RunPipelineSweep(const AllOptions& options, Failures* failures);

// 1 to 10,000 idle notnets connections (in another client process) while one is measured.
Sweep RunIdleConnectionsSweep(const AllOptions& options, Failures* failures);

// Runs `make_job(x)` for each x against one session of each case, appending rows to `sweep`.
// A failed point is recorded in `failures` as "<sweep>/<case>/<x>" and the case's later points
// are skipped.
void RunPoints(const AllOptions& options, const std::vector<std::string>& cases,
               const std::vector<double>& xs, Job (*make_job)(const AllOptions&, double x),
               Sweep* sweep, Failures* failures);

// Prints the sweep as a table: case, x, p50, p99, calls/s, MiB/s, CPU per call on each side.
void PrintSweep(const Sweep& sweep, FILE* out = stdout);

// Writes the sweep as CSV: case, x, the extended latency columns, payload MiB/s.
void PrintSweepCsv(const Sweep& sweep, FILE* out);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_SWEEP_H_
