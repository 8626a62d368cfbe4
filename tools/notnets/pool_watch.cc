#include "pool_watch.h"

#include "pool/pool_access.h"

namespace notnets::tool {

Status PoolWatch::Open(const std::string& name) { return Pool::Attach(name, &pool_); }

std::vector<internal::ServiceReport> PoolWatch::Read() const {
  return internal::ReadServiceReports(&internal::PoolAccess::mapping(*pool_));
}

std::vector<internal::ConnectionReport> PoolWatch::ReadConnections(
    const internal::ServiceReport& report) const {
  internal::Allocator allocator(&internal::PoolAccess::mapping(*pool_));
  return internal::ReadConnectionReports(allocator,
                                         internal::ServiceRef{report.index, report.generation});
}

const char* StateName(const internal::ServiceReport& report) {
  if (!report.server_alive) return "dead";
  return report.closing ? "closing" : "serving";
}

}  // namespace notnets::tool
