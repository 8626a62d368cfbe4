// What notnets-bench prints: aligned tables for people, CSV for scripts and files. Tables and
// CSV go to `out` (stdout unless a file is given); errors go to stderr elsewhere.
#ifndef NOTNETS_BENCH_REPORT_H_
#define NOTNETS_BENCH_REPORT_H_

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "job.h"

namespace notnets::bench {

// The measurement of one case.
struct CaseResult {
  std::string name;
  Measurement measurement;
};

// The named measurements of one case.
struct CaseMetrics {
  std::string name;
  std::vector<Metric> metrics;
};

// `value` with up to 3 decimals and no trailing zeros ("10", "0.5").
std::string FormatNumber(double value);

// Prints one line starting "# " describing the machine (CPUs usable, CPU model, kernel, load
// average) and `command_line`, then `details` on a second such line if not empty.
void PrintRunHeader(const std::string& command_line, const std::string& details,
                    FILE* out = stdout);

// Prints the table: case, avg_us, p50_us, p99_us, p999_us, calls_per_s, and with `extended`
// max_us, client_cpu_us_per_call, server_cpu_us_per_call and calls.
void PrintLatencyTable(const std::vector<CaseResult>& results, bool extended, FILE* out = stdout);

// Prints "case,avg_us,p50_us,p99_us,p999_us,calls_per_s" (with `extended`, then
// ",max_us,client_cpu_us_per_call,server_cpu_us_per_call,calls") and one row per result.
void PrintLatencyCsv(const std::vector<CaseResult>& results, bool extended, FILE* out = stdout);

// Prints how many times lower each other case's p50 and p99 are than those of the case named
// `baseline` ("x 120.5 faster"). Prints nothing if `baseline` is not among `results`.
void PrintComparison(const std::vector<CaseResult>& results, std::string_view baseline,
                     FILE* out = stdout);

// Prints a table with a row per metric and a column per case (the metrics of the first case).
void PrintMetricsTable(const std::vector<CaseMetrics>& results, FILE* out = stdout);

// Prints "case,<metric>,..." and a row per case.
void PrintMetricsCsv(const std::vector<CaseMetrics>& results, FILE* out = stdout);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_REPORT_H_
