// What notnets-bench prints: aligned tables for people, CSV for scripts. Everything goes to
// stdout; errors go to stderr elsewhere.
#ifndef NOTNETS_BENCH_REPORT_H_
#define NOTNETS_BENCH_REPORT_H_

#include <string>
#include <string_view>
#include <vector>

#include "stats.h"

namespace notnets::bench {

// The latency of one case.
struct CaseResult {
  std::string name;
  LatencySummary latency;
};

// A named measurement; the unit is part of the name ("first_call_us").
struct Metric {
  std::string name;
  double value;
};

// Prints one line starting "# " describing the machine (CPUs usable, CPU model, kernel, load
// average) and `command_line`, then `details` on a second such line if not empty.
void PrintRunHeader(const std::string& command_line, const std::string& details);

// Prints the table: case, avg_us, p50_us, p99_us, p999_us, calls_per_s.
void PrintLatencyTable(const std::vector<CaseResult>& results);

// Prints "case,avg_us,p50_us,p99_us,p999_us,calls_per_s" and one row per result.
void PrintLatencyCsv(const std::vector<CaseResult>& results);

// Prints how many times lower each other case's p50 and p99 are than those of the case named
// `baseline` ("x 120.5 faster"). Prints nothing if `baseline` is not among `results`.
void PrintComparison(const std::vector<CaseResult>& results, std::string_view baseline);

// Prints `metrics` as an aligned two-column table.
void PrintMetricsTable(const std::vector<Metric>& metrics);

// Prints "metric,value" and one row per metric.
void PrintMetricsCsv(const std::vector<Metric>& metrics);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_REPORT_H_
