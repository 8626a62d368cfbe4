#include "report.h"

#include <algorithm>
#include <cstdio>

#include "machine.h"

namespace notnets::bench {
namespace {

// How `value` compares with `baseline`: "x 12.3 faster" when lower, "x 1.2 slower" when higher.
std::string Ratio(double baseline, double value) {
  char text[64];
  if (value > 0 && baseline >= value) {
    std::snprintf(text, sizeof(text), "x %.1f faster", baseline / value);
  } else if (baseline > 0) {
    std::snprintf(text, sizeof(text), "x %.1f slower", value / baseline);
  } else {
    std::snprintf(text, sizeof(text), "n/a");
  }
  return text;
}

}  // namespace

void PrintRunHeader(const std::string& command_line, const std::string& details) {
  std::printf("# %d CPUs (%s), Linux %s, load average %s; command: %s\n", UsableCpus(),
              CpuModel().c_str(), KernelRelease().c_str(), LoadAverage().c_str(),
              command_line.c_str());
  if (!details.empty()) std::printf("# %s\n", details.c_str());
}

void PrintLatencyTable(const std::vector<CaseResult>& results) {
  std::printf("%-26s %10s %10s %10s %10s %12s\n", "case", "avg_us", "p50_us", "p99_us", "p999_us",
              "calls_per_s");
  for (const CaseResult& result : results) {
    const LatencySummary& l = result.latency;
    std::printf("%-26s %10.3f %10.3f %10.3f %10.3f %12.0f\n", result.name.c_str(), l.avg_us,
                l.p50_us, l.p99_us, l.p999_us, l.calls_per_s);
  }
}

void PrintLatencyCsv(const std::vector<CaseResult>& results) {
  std::printf("case,avg_us,p50_us,p99_us,p999_us,calls_per_s\n");
  for (const CaseResult& result : results) {
    const LatencySummary& l = result.latency;
    std::printf("%s,%.3f,%.3f,%.3f,%.3f,%.0f\n", result.name.c_str(), l.avg_us, l.p50_us, l.p99_us,
                l.p999_us, l.calls_per_s);
  }
}

void PrintComparison(const std::vector<CaseResult>& results, std::string_view baseline) {
  auto base = std::find_if(results.begin(), results.end(),
                           [&](const CaseResult& result) { return result.name == baseline; });
  if (base == results.end()) return;
  std::printf("\n%s latency compared with each case's:\n", base->name.c_str());
  std::printf("%-26s %-18s %-18s\n", "case", "p50", "p99");
  for (const CaseResult& result : results) {
    if (result.name == baseline) continue;
    std::printf("%-26s %-18s %-18s\n", result.name.c_str(),
                Ratio(base->latency.p50_us, result.latency.p50_us).c_str(),
                Ratio(base->latency.p99_us, result.latency.p99_us).c_str());
  }
}

void PrintMetricsTable(const std::vector<Metric>& metrics) {
  std::printf("%-32s %12s\n", "metric", "value");
  for (const Metric& metric : metrics) {
    std::printf("%-32s %12.3f\n", metric.name.c_str(), metric.value);
  }
}

void PrintMetricsCsv(const std::vector<Metric>& metrics) {
  std::printf("metric,value\n");
  for (const Metric& metric : metrics) std::printf("%s,%.3f\n", metric.name.c_str(), metric.value);
}

}  // namespace notnets::bench
