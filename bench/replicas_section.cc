// Replicas: every client process calls one at a time over the same phase (fleet.h); the
// notnets channels spread their calls over the replicas by load. The fleets run unpinned; on a
// machine with fewer CPUs than processes the figures show how the scheduler shares the CPUs as
// much as what the replicas add. One client's latency runs pinned, as in the main table.
#include "replicas_section.h"

#include "native_clients.h"
#include "report.h"

namespace notnets::bench {
namespace {

constexpr int kClients = 8;
constexpr int kReplicaCounts[] = {1, 2, 4};
// Alternated runs of one client against a sole server and a single replica.
constexpr int kLatencyRounds = 2;

// `clients` processes calling together for the point's seconds.
std::vector<FleetClient> Together(const AllOptions& options, int clients) {
  FleetClient client;
  client.stop = options.point_seconds;
  return std::vector<FleetClient>(static_cast<size_t>(clients), client);
}

// Runs one configuration and appends it to `rows`.
void RunRow(const AllOptions& options, ReplicaRow row, std::vector<std::string> server_words,
            std::vector<ReplicaRow>* rows, Failures* failures) {
  std::fprintf(stderr, "notnets-bench: replicas: %s, %d %s server(s), %d client(s)\n",
               row.case_name.c_str(), row.servers, row.server.c_str(), row.clients);
  FleetPlan plan;
  plan.case_name = row.case_name;
  plan.server_words = std::move(server_words);
  plan.servers = row.servers;
  plan.clients = Together(options, row.clients);
  plan.pinned = row.clients == 1;
  Status status = RunFleet(plan, MakeCaseOptions(options.common), &row.fleet);
  if (!status.ok()) {
    failures->Add(
        "replicas/" + row.case_name + "/" + row.server + "/" + std::to_string(row.servers), status);
    return;
  }
  rows->push_back(row);
}

// The server words of a notnets replica with one worker.
std::vector<std::string> ReplicaWords() {
  std::vector<std::string> words = NativeWorkersWords(1, 1);
  words.push_back(kNativeReplicaWord);
  return words;
}

// The mean of the p50s of the rows of one client against `server`; 0 if there are none.
double SingleClientP50(const std::vector<ReplicaRow>& rows, const std::string& server) {
  double sum = 0;
  int count = 0;
  for (const ReplicaRow& row : rows) {
    if (row.clients != 1 || row.server != server) continue;
    sum += row.fleet.all.p50_us;
    ++count;
  }
  return count == 0 ? 0 : sum / count;
}

// The calls/s of `server` rows with `servers` servers and many clients; 0 if there is none.
double ManyClientsRate(const std::vector<ReplicaRow>& rows, const std::string& server,
                       int servers) {
  for (const ReplicaRow& row : rows) {
    if (row.clients > 1 && row.server == server && row.servers == servers) {
      return row.fleet.all.calls_per_s;
    }
  }
  return 0;
}

}  // namespace

std::vector<ReplicaRow> RunReplicasSection(const AllOptions& options, Failures* failures) {
  std::vector<ReplicaRow> rows;
  for (int replicas : kReplicaCounts) {
    RunRow(options, {"notnets-native", "replica", replicas, kClients, {}}, ReplicaWords(), &rows,
           failures);
  }
  RunRow(options, {kBaseline, "grpc", 1, kClients, {}}, {}, &rows, failures);
  for (int round = 0; round < kLatencyRounds; ++round) {
    RunRow(options, {"notnets-native", "sole", 1, 1, {}}, NativeWorkersWords(1, 1), &rows,
           failures);
    RunRow(options, {"notnets-native", "replica", 1, 1, {}}, ReplicaWords(), &rows, failures);
  }
  return rows;
}

void PrintReplicas(const std::vector<ReplicaRow>& rows, FILE* out) {
  if (rows.empty()) return;
  std::fprintf(out,
               "\nreplicas: client processes calling one at a time, servers of one worker each; "
               "several clients unpinned, one client pinned as in the main table (CPU in us per "
               "call; slowest and fastest client's calls/s)\n");
  std::fprintf(out, "%-16s %-8s %7s %7s %12s %10s %10s %10s %10s %13s %13s %10s\n", "case",
               "server", "servers", "clients", "calls_per_s", "slowest", "fastest", "p50_us",
               "p99_us", "client_cpu_us", "server_cpu_us", "cpu_us");
  for (const ReplicaRow& row : rows) {
    const FleetResult& f = row.fleet;
    std::fprintf(out,
                 "%-16s %-8s %7d %7d %12.0f %10.0f %10.0f %10.3f %10.3f %13.3f %13.3f %10.3f\n",
                 row.case_name.c_str(), row.server.c_str(), row.servers, row.clients,
                 f.all.calls_per_s, f.min_client_calls_per_s, f.max_client_calls_per_s,
                 f.all.p50_us, f.all.p99_us, f.client_cpu_us_per_call, f.server_cpu_us_per_call,
                 f.client_cpu_us_per_call + f.server_cpu_us_per_call);
  }
  double one = ManyClientsRate(rows, "replica", 1);
  double grpc = ManyClientsRate(rows, "grpc", 1);
  for (int replicas : kReplicaCounts) {
    double rate = ManyClientsRate(rows, "replica", replicas);
    if (rate == 0 || one == 0) continue;
    std::fprintf(out, "  %d replica(s), %d clients: %.2fx the calls/s of 1 replica", replicas,
                 kClients, rate / one);
    if (grpc > 0) std::fprintf(out, ", %.1fx grpc-http2-tcp's", rate / grpc);
    std::fprintf(out, "\n");
  }
  double sole = SingleClientP50(rows, "sole");
  double replica = SingleClientP50(rows, "replica");
  if (sole > 0 && replica > 0) {
    std::fprintf(out,
                 "  one client, p50 (mean of %d alternated runs): sole server %.3f us, single "
                 "replica %.3f us: balancing adds %+.1f%% (target: under 5%%)\n",
                 kLatencyRounds, sole, replica, 100.0 * (replica - sole) / sole);
  }
}

void PrintReplicasCsv(const std::vector<ReplicaRow>& rows, FILE* out) {
  std::fprintf(out,
               "case,server,servers,clients,calls,calls_per_s,slowest_client_calls_per_s,"
               "fastest_client_calls_per_s,p50_us,p99_us,client_cpu_us_per_call,"
               "server_cpu_us_per_call\n");
  for (const ReplicaRow& row : rows) {
    const FleetResult& f = row.fleet;
    std::fprintf(out, "%s,%s,%d,%d,%.0f,%.0f,%.0f,%.0f,%.3f,%.3f,%.3f,%.3f\n",
                 row.case_name.c_str(), row.server.c_str(), row.servers, row.clients, f.all.calls,
                 f.all.calls_per_s, f.min_client_calls_per_s, f.max_client_calls_per_s,
                 f.all.p50_us, f.all.p99_us, f.client_cpu_us_per_call, f.server_cpu_us_per_call);
  }
}

}  // namespace notnets::bench
