// A pool attached for reading what its services do, again and again (ls, stats, top, /metrics).
#ifndef NOTNETS_TOOLS_NOTNETS_POOL_WATCH_H_
#define NOTNETS_TOOLS_NOTNETS_POOL_WATCH_H_

#include <memory>
#include <string>
#include <vector>

#include "channel/connection_report.h"
#include "notnets/pool.h"
#include "notnets/status.h"
#include "pool/service_report.h"

namespace notnets::tool {

class PoolWatch {
 public:
  // Attaches the pool `name` (Pool::PathFor); the statuses of Pool::Attach.
  Status Open(const std::string& name);

  // The file behind the pool.
  const std::string& path() const { return pool_->path(); }

  // Reads every service's directory entry and counters now, without stopping anyone.
  std::vector<internal::ServiceReport> Read() const;
  // Reads the counters of every connection to the service `report` describes (a heap walk),
  // without stopping anyone.
  std::vector<internal::ConnectionReport> ReadConnections(
      const internal::ServiceReport& report) const;

 private:
  std::shared_ptr<Pool> pool_;
};

// "serving", "closing", or "dead" when the server process is gone.
const char* StateName(const internal::ServiceReport& report);

}  // namespace notnets::tool

#endif  // NOTNETS_TOOLS_NOTNETS_POOL_WATCH_H_
