#include <cinttypes>
#include <cstdio>
#include <functional>

#include "latency.h"
#include "notnets/status.h"
#include "stats_format.h"

namespace notnets::tool {

namespace {

// A label value as the exposition format wants it: backslash, quote and newline escaped.
std::string Escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

class Exposition {
 public:
  explicit Exposition(const std::string& pool_path) : pool_(Escape(pool_path)) {}

  // Starts a metric family.
  void Family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  // One sample of `name` for `report`, with `extra` labels (`key="value",`...) first.
  void Sample(const std::string& name, const internal::ServiceReport& report, uint64_t value,
              const std::string& extra = "") {
    out_ += name + "{" + extra + "pool=\"" + pool_ + "\",service=\"" + Escape(report.name) +
            "\"} " + std::to_string(value) + "\n";
  }
  void SampleSeconds(const std::string& name, const internal::ServiceReport& report,
                     double seconds) {
    char value[64];
    std::snprintf(value, sizeof(value), "%.9g", seconds);
    out_ +=
        name + "{pool=\"" + pool_ + "\",service=\"" + Escape(report.name) + "\"} " + value + "\n";
  }
  std::string take() { return std::move(out_); }

 private:
  std::string pool_;
  std::string out_;
};

}  // namespace

std::string FormatStatsPrometheus(const std::string& pool_path, const Reports& reports) {
  Exposition out(pool_path);
  // One family at a time over every service, as the format wants the samples of a family together.
  auto each = [&](bool counted_only,
                  const std::function<void(const internal::ServiceReport&)>& sample) {
    for (const internal::ServiceReport& report : reports) {
      if (!counted_only || report.has_counters) sample(report);
    }
  };
  out.Family("notnets_service_up", "gauge",
             "1 if the server process of the service is alive, 0 if it died.");
  each(false, [&](const auto& r) { out.Sample("notnets_service_up", r, r.server_alive ? 1 : 0); });
  out.Family("notnets_service_closing", "gauge",
             "1 while the server shuts the service down and takes no new connections.");
  each(false, [&](const auto& r) { out.Sample("notnets_service_closing", r, r.closing ? 1 : 0); });
  out.Family("notnets_service_connections_accepted_total", "counter",
             "Connections the server has accepted for the service.");
  each(false, [&](const auto& r) {
    out.Sample("notnets_service_connections_accepted_total", r, r.connections_accepted);
  });
  out.Family("notnets_service_connections_open", "gauge",
             "Connections the server holds open for the service now.");
  each(true, [&](const auto& r) {
    out.Sample("notnets_service_connections_open", r, r.counters.connections_open);
  });
  out.Family("notnets_service_workers", "gauge", "Worker threads of the service's server.");
  each(true, [&](const auto& r) { out.Sample("notnets_service_workers", r, r.counters.workers); });
  out.Family("notnets_service_busy_workers", "gauge",
             "Workers running a handler of the service now.");
  each(true, [&](const auto& r) {
    out.Sample("notnets_service_busy_workers", r, r.counters.busy_workers);
  });
  out.Family("notnets_service_calls_started_total", "counter", "Requests the server took to run.");
  each(true, [&](const auto& r) {
    out.Sample("notnets_service_calls_started_total", r, r.counters.calls_started);
  });
  out.Family("notnets_service_calls_finished_total", "counter",
             "Calls the server answered, by gRPC status code.");
  each(true, [&](const auto& r) {
    for (uint32_t code = 0; code < internal::kCountedStatusCodes; ++code) {
      out.Sample("notnets_service_calls_finished_total", r, r.counters.by_code[code],
                 std::string("code=\"") + StatusCodeName(static_cast<StatusCode>(code)) + "\",");
    }
  });
  out.Family("notnets_service_call_duration_seconds", "histogram",
             "Time from a worker taking a request to its response ready to send, of 1 call in 16.");
  each(true, [&](const auto& r) {
    uint64_t cumulative = 0;
    // The last bucket holds everything longer: it is +Inf's.
    for (uint32_t bucket = 0; bucket + 1 < internal::kLatencyBuckets; ++bucket) {
      cumulative += r.counters.latency[bucket];
      char le[64];
      std::snprintf(le, sizeof(le), "le=\"%.9g\",", BucketUpperBoundNs(bucket) * 1e-9);
      out.Sample("notnets_service_call_duration_seconds_bucket", r, cumulative, le);
    }
    cumulative += r.counters.latency[internal::kLatencyBuckets - 1];
    out.Sample("notnets_service_call_duration_seconds_bucket", r, cumulative, "le=\"+Inf\",");
    out.SampleSeconds("notnets_service_call_duration_seconds_sum", r,
                      static_cast<double>(r.counters.latency_sum_ns) * 1e-9);
    out.Sample("notnets_service_call_duration_seconds_count", r, cumulative);
  });
  return out.take();
}

}  // namespace notnets::tool
