// The three forms of `notnets stats`: a table for people, JSON for programs, and the Prometheus
// text exposition format for a Prometheus server. docs/operators.md describes the fields;
// stats.schema.json is the JSON form's schema.
#ifndef NOTNETS_TOOLS_NOTNETS_STATS_FORMAT_H_
#define NOTNETS_TOOLS_NOTNETS_STATS_FORMAT_H_

#include <string>
#include <vector>

#include "pool/service_report.h"

namespace notnets::tool {

using Reports = std::vector<internal::ServiceReport>;

// One block of lines per service: state, server, connections, calls by code, p50/p99.
std::string FormatStatsText(const std::string& pool_path, const Reports& reports);

// {"pool": ..., "services": [...]}, one object per service, as stats.schema.json has it: a field
// added or changed here goes there too (NotnetsCommandTest.JsonFollowsItsSchema).
std::string FormatStatsJson(const std::string& pool_path, const Reports& reports);

// Metric families notnets_service_*, labelled with the pool and the service; latency as a
// histogram in seconds. Passes `promtool check metrics`.
std::string FormatStatsPrometheus(const std::string& pool_path, const Reports& reports);

}  // namespace notnets::tool

#endif  // NOTNETS_TOOLS_NOTNETS_STATS_FORMAT_H_
