#include "report.h"

#include <algorithm>

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

// The value of metric `name` in `metrics`, or nullptr.
const Metric* Find(const std::vector<Metric>& metrics, const std::string& name) {
  for (const Metric& metric : metrics) {
    if (metric.name == name) return &metric;
  }
  return nullptr;
}

}  // namespace

std::string FormatNumber(double value) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.3f", value);
  std::string result = text;
  while (result.back() == '0') result.pop_back();
  if (result.back() == '.') result.pop_back();
  return result;
}

void PrintRunHeader(const std::string& command_line, const std::string& details, FILE* out) {
  std::fprintf(out, "# %d CPUs (%s), Linux %s, load average %s; command: %s\n", UsableCpus(),
               CpuModel().c_str(), KernelRelease().c_str(), LoadAverage().c_str(),
               command_line.c_str());
  if (!details.empty()) std::fprintf(out, "# %s\n", details.c_str());
}

void PrintLatencyTable(const std::vector<CaseResult>& results, bool extended, FILE* out) {
  std::fprintf(out, "%-30s %10s %10s %10s %10s %12s", "case", "avg_us", "p50_us", "p99_us",
               "p999_us", "calls_per_s");
  if (extended) {
    std::fprintf(out, " %10s %12s %12s %8s", "max_us", "client_cpu_us", "server_cpu_us", "calls");
  }
  std::fprintf(out, "\n");
  for (const CaseResult& result : results) {
    const LatencySummary& l = result.measurement.latency;
    std::fprintf(out, "%-30s %10.3f %10.3f %10.3f %10.3f %12.0f", result.name.c_str(), l.avg_us,
                 l.p50_us, l.p99_us, l.p999_us, l.calls_per_s);
    if (extended) {
      std::fprintf(out, " %10.1f %12.3f %12.3f %8.0f", l.max_us,
                   result.measurement.client_cpu_us_per_call,
                   result.measurement.server_cpu_us_per_call, l.calls);
    }
    std::fprintf(out, "\n");
  }
}

void PrintLatencyCsv(const std::vector<CaseResult>& results, bool extended, FILE* out) {
  std::fprintf(out, "case,avg_us,p50_us,p99_us,p999_us,calls_per_s");
  if (extended) std::fprintf(out, ",max_us,client_cpu_us_per_call,server_cpu_us_per_call,calls");
  std::fprintf(out, "\n");
  for (const CaseResult& result : results) {
    const LatencySummary& l = result.measurement.latency;
    std::fprintf(out, "%s,%.3f,%.3f,%.3f,%.3f,%.0f", result.name.c_str(), l.avg_us, l.p50_us,
                 l.p99_us, l.p999_us, l.calls_per_s);
    if (extended) {
      std::fprintf(out, ",%.3f,%.3f,%.3f,%.0f", l.max_us, result.measurement.client_cpu_us_per_call,
                   result.measurement.server_cpu_us_per_call, l.calls);
    }
    std::fprintf(out, "\n");
  }
}

void PrintComparison(const std::vector<CaseResult>& results, std::string_view baseline, FILE* out) {
  auto base = std::find_if(results.begin(), results.end(),
                           [&](const CaseResult& result) { return result.name == baseline; });
  if (base == results.end()) return;
  const LatencySummary& b = base->measurement.latency;
  std::fprintf(out, "\n%s latency compared with each case's:\n", base->name.c_str());
  std::fprintf(out, "%-30s %-18s %-18s\n", "case", "p50", "p99");
  for (const CaseResult& result : results) {
    if (result.name == baseline) continue;
    const LatencySummary& l = result.measurement.latency;
    std::fprintf(out, "%-30s %-18s %-18s\n", result.name.c_str(), Ratio(b.p50_us, l.p50_us).c_str(),
                 Ratio(b.p99_us, l.p99_us).c_str());
  }
}

namespace {

// The names of the metrics any case reported, in the order first seen: a case may report fewer
// (one that takes a single client has no connection set-up).
std::vector<std::string> MetricNames(const std::vector<CaseMetrics>& results) {
  std::vector<std::string> names;
  for (const CaseMetrics& result : results) {
    for (const Metric& metric : result.metrics) {
      if (std::find(names.begin(), names.end(), metric.name) == names.end()) {
        names.push_back(metric.name);
      }
    }
  }
  return names;
}

}  // namespace

void PrintMetricsTable(const std::vector<CaseMetrics>& results, FILE* out) {
  if (results.empty()) return;
  std::fprintf(out, "%-32s", "metric");
  for (const CaseMetrics& result : results) std::fprintf(out, " %22s", result.name.c_str());
  std::fprintf(out, "\n");
  for (const std::string& name : MetricNames(results)) {
    std::fprintf(out, "%-32s", name.c_str());
    for (const CaseMetrics& result : results) {
      const Metric* found = Find(result.metrics, name);
      if (found != nullptr) {
        std::fprintf(out, " %22.3f", found->value);
      } else {
        std::fprintf(out, " %22s", "-");
      }
    }
    std::fprintf(out, "\n");
  }
}

void PrintMetricsCsv(const std::vector<CaseMetrics>& results, FILE* out) {
  if (results.empty()) return;
  std::vector<std::string> names = MetricNames(results);
  std::fprintf(out, "case");
  for (const std::string& name : names) std::fprintf(out, ",%s", name.c_str());
  std::fprintf(out, "\n");
  for (const CaseMetrics& result : results) {
    std::fprintf(out, "%s", result.name.c_str());
    for (const std::string& name : names) {
      const Metric* found = Find(result.metrics, name);
      if (found != nullptr) {
        std::fprintf(out, ",%.3f", found->value);
      } else {
        std::fprintf(out, ",");
      }
    }
    std::fprintf(out, "\n");
  }
}

}  // namespace notnets::bench
