#include <cinttypes>
#include <cstdio>

#include "latency.h"
#include "notnets/status.h"
#include "pool_watch.h"
#include "stats_format.h"

namespace notnets::tool {

namespace {

void Append(std::string* out, const char* format, auto... values) {
  char line[512];
  std::snprintf(line, sizeof(line), format, values...);
  out->append(line);
}

}  // namespace

std::string FormatStatsText(const std::string& pool_path, const Reports& reports) {
  std::string out;
  Append(&out, "pool %s: %zu services\n", pool_path.c_str(), reports.size());
  for (const internal::ServiceReport& report : reports) {
    Append(&out, "\n%s (%s, pid %d, %u methods)\n", report.name.c_str(), StateName(report),
           report.server_pid, report.method_count);
    if (!report.has_counters) {
      Append(&out, "  connections  accepted %" PRIu64 "\n  (no counters published)\n",
             report.connections_accepted);
      continue;
    }
    const internal::CounterTotals& c = report.counters;
    Append(&out, "  server       uid %u, workers %u, busy %u\n", c.server_uid, c.workers,
           c.busy_workers);
    Append(&out, "  connections  open %" PRIu64 ", accepted %" PRIu64 "\n", c.connections_open,
           report.connections_accepted);
    Append(&out, "  calls        started %" PRIu64 ", finished %" PRIu64 "\n", c.calls_started,
           c.calls_finished);
    for (uint32_t code = 0; code < internal::kCountedStatusCodes; ++code) {
      if (c.by_code[code] == 0) continue;
      Append(&out, "    %-20s %" PRIu64 "\n", StatusCodeName(static_cast<StatusCode>(code)),
             c.by_code[code]);
    }
    Append(&out, "  latency      p50 <= %" PRIu64 " ns, p99 <= %" PRIu64 " ns\n",
           QuantileUpperBoundNs(c.latency, 0.5), QuantileUpperBoundNs(c.latency, 0.99));
  }
  return out;
}

}  // namespace notnets::tool
