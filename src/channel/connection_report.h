// What each client counted of its calls on the connections to one service (ConnectionCounters),
// read without stopping anyone: for `notnets top`.
#ifndef NOTNETS_CHANNEL_CONNECTION_REPORT_H_
#define NOTNETS_CHANNEL_CONNECTION_REPORT_H_

#include <cstdint>
#include <vector>

#include "channel/connection_layout.h"
#include "pool/allocator.h"
#include "pool/directory.h"

namespace notnets::internal {

// One connection's counts, a snapshot that may be torn between counters; each one never goes
// down between two snapshots of one connection.
struct ConnectionReport {
  uint64_t serial = 0;     // unique for the pool's life
  int32_t client_pid = 0;  // as the client says, in its own pid namespace
  uint64_t calls_answered = 0;
  uint64_t calls_failed = 0;
  uint64_t latency[kLatencyBuckets] = {};  // timed calls by LatencyBucket
};

// Every connection to `service` (that entry and generation) whose client has not left it, found
// by walking the heap. Each value is read once; a block that does not validate as such a
// connection, or that changes while it is read, is left out or reported with wrong counts, never
// trusted further.
std::vector<ConnectionReport> ReadConnectionReports(const Allocator& allocator,
                                                    const ServiceRef& service);

}  // namespace notnets::internal

#endif  // NOTNETS_CHANNEL_CONNECTION_REPORT_H_
