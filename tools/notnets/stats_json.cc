#include <nlohmann/json.hpp>

#include "latency.h"
#include "notnets/status.h"
#include "pool_watch.h"
#include "stats_format.h"

namespace notnets::tool {

std::string FormatStatsJson(const std::string& pool_path, const Reports& reports) {
  nlohmann::json services = nlohmann::json::array();
  for (const internal::ServiceReport& report : reports) {
    nlohmann::json service = {
        {"name", report.name},
        {"state", StateName(report)},
        {"directory_entry", report.index},
        {"generation", report.generation},
        {"server", {{"pid", report.server_pid}, {"alive", report.server_alive}}},
        {"methods", report.method_count},
        {"connections", {{"accepted", report.connections_accepted}}},
        {"counters", nullptr},
    };
    if (report.has_counters) {
      const internal::CounterTotals& c = report.counters;
      service["server"]["uid"] = c.server_uid;
      service["server"]["started_unix_ns"] = c.started_unix_ns;
      service["connections"]["open"] = c.connections_open;
      nlohmann::json by_code = nlohmann::json::object();
      for (uint32_t code = 0; code < internal::kCountedStatusCodes; ++code) {
        by_code[StatusCodeName(static_cast<StatusCode>(code))] = c.by_code[code];
      }
      nlohmann::json buckets = nlohmann::json::array();
      for (uint32_t bucket = 0; bucket < internal::kLatencyBuckets; ++bucket) {
        buckets.push_back({{"le_ns", BucketUpperBoundNs(bucket)}, {"count", c.latency[bucket]}});
      }
      service["counters"] = {
          {"workers", c.workers},
          {"busy_workers", c.busy_workers},
          {"calls_started", c.calls_started},
          {"calls_finished", c.calls_finished},
          {"calls_by_code", by_code},
          {"latency",
           {{"buckets", buckets},
            {"sum_ns", c.latency_sum_ns},
            {"p50_le_ns", QuantileUpperBoundNs(c.latency, 0.5)},
            {"p99_le_ns", QuantileUpperBoundNs(c.latency, 0.99)}}},
      };
    }
    services.push_back(service);
  }
  nlohmann::json document = {{"pool", pool_path}, {"services", services}};
  return document.dump(2) + "\n";
}

}  // namespace notnets::tool
