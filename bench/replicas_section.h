// The "replicas" section of "notnets-bench all": throughput of 8 client processes against 1, 2
// and 4 replica server processes of one service name (one worker each), beside gRPC over HTTP/2
// with the same clients; what balancing adds to one client's p50 with a single replica; and how
// soon a new replica takes its first call.
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

// How soon new replicas took calls, one entry per trial: client threads of this process call a
// running replica in a pool of their own while a second replica registers, then shuts down.
struct NewReplicaTimes {
  // Milliseconds from the start of the replica's BuildAndStart (which registers it) to the
  // first call it served.
  std::vector<double> first_call_ms;
  // Milliseconds its BuildAndStart took.
  std::vector<double> build_ms;
};

// Runs the trials; one whose replica took no call within 5 s is recorded as
// "replicas/new-replica".
NewReplicaTimes MeasureNewReplicaFirstCall(const AllOptions& options, Failures* failures);

// Prints the rows as a table, then calls/s against 1 replica and against grpc-http2-tcp, the
// single-replica p50 through the balancing path against a sole server's, and the new replicas'
// times to their first call against the 100 ms target.
void PrintReplicas(const std::vector<ReplicaRow>& rows, const NewReplicaTimes& new_replica,
                   FILE* out);

// Writes the rows as CSV.
void PrintReplicasCsv(const std::vector<ReplicaRow>& rows, FILE* out);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_REPLICAS_SECTION_H_
