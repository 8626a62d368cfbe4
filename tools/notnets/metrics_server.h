// The HTTP endpoint of `notnets stats --serve`: /metrics, read from the pool at each scrape.
#ifndef NOTNETS_TOOLS_NOTNETS_METRICS_SERVER_H_
#define NOTNETS_TOOLS_NOTNETS_METRICS_SERVER_H_

#include <string>

#include "pool_watch.h"

namespace notnets::tool {

// Serves GET /metrics (the Prometheus text format) on `address`, "[HOST]:PORT", until SIGINT or
// SIGTERM. Prints "serving http://HOST:PORT/metrics" with the port bound once it listens. Returns
// the exit code: 0 after a signal, kExitUsage for a malformed address, kExitFailed if it cannot
// listen.
int ServeMetrics(const PoolWatch& watch, const std::string& address);

}  // namespace notnets::tool

#endif  // NOTNETS_TOOLS_NOTNETS_METRICS_SERVER_H_
