// What the directory and each server's counters say about the services of a pool, read without
// stopping anyone: for the `notnets` command and tests.
#ifndef NOTNETS_POOL_SERVICE_REPORT_H_
#define NOTNETS_POOL_SERVICE_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "pool/counters_layout.h"
#include "pool/directory.h"
#include "pool/pool_mapping.h"

namespace notnets::internal {

// A service's counters, added up over its server's slabs. A snapshot, possibly torn between
// counters (pool/counters_layout.h): each one never goes down between two snapshots of one server.
struct CounterTotals {
  uint32_t workers = 0;
  uint32_t busy_workers = 0;  // workers running a handler of this service now
  uint32_t server_uid = 0;    // the server's effective user
  uint64_t started_unix_ns = 0;
  uint64_t connections_open = 0;
  uint64_t calls_started = 0;
  uint64_t calls_finished = 0;
  uint64_t by_code[kCountedStatusCodes] = {};
  uint64_t latency[kLatencyBuckets] = {};  // finished calls by LatencyBucket
  uint64_t latency_sum_ns = 0;
};

// One service of the directory (active, or closing while its server shuts down).
struct ServiceReport {
  uint32_t index = 0;  // its directory entry
  uint64_t generation = 0;
  std::string name;
  bool closing = false;
  int32_t server_pid = 0;  // in the server's pid namespace
  bool server_alive = true;
  uint32_t method_count = 0;
  bool replica = false;  // one replica among others of its name (ReplicaMode::kReplica)
  uint64_t host_id = 0;  // HostId() of its server; 0 from a server that did not say

  uint64_t connections_accepted = 0;
  bool has_counters = false;  // false before the server published them, or if they are corrupt
  CounterTotals counters;
};

// Reads every service of the pool. Each value is read once from the pool and validated; a service
// that changed while it was read is reported without counters or left out.
std::vector<ServiceReport> ReadServiceReports(PoolMapping* mapping);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_SERVICE_REPORT_H_
