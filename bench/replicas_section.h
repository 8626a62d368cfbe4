// The "replicas" section of "notnets-bench all": throughput of 8 client processes against 1, 2
// and 4 replica server processes of one service name (one worker each), beside gRPC over HTTP/2
// with the same clients; and what balancing adds to one client's p50 with a single replica.
#ifndef NOTNETS_BENCH_REPLICAS_SECTION_H_
#define NOTNETS_BENCH_REPLICAS_SECTION_H_

#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "failures.h"
#include "fleet.h"

namespace notnets::bench {

// One measured configuration.
struct ReplicaRow {
  std::string case_name;
  // "replica" (ServerBuilder::ServeAsReplica), "sole" (a plain server) or "grpc".
  std::string server;
  int servers = 1;
  int clients = 1;
  FleetResult fleet;
};

// Runs the section's configurations; a failed one is recorded as "replicas/<case>/<servers>".
std::vector<ReplicaRow> RunReplicasSection(const AllOptions& options, Failures* failures);

// Prints the rows as a table, then calls/s against 1 replica and against grpc-http2-tcp, and the
// single-replica p50 through the balancing path against a sole server's.
void PrintReplicas(const std::vector<ReplicaRow>& rows, FILE* out);

// Writes the rows as CSV.
void PrintReplicasCsv(const std::vector<ReplicaRow>& rows, FILE* out);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_REPLICAS_SECTION_H_
