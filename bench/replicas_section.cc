// Replicas: every client process calls one at a time over the same phase (fleet.h); the
// notnets channels spread their calls over the replicas by load. The fleets run unpinned; on a
// machine with fewer CPUs than processes the figures show how the scheduler shares the CPUs as
// much as what the replicas add. One client's latency runs pinned, as in the main table.
#include "replicas_section.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "native_clients.h"
#include "notnets/channel.h"
#include "notnets/server.h"
#include "report.h"

namespace notnets::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kClients = 8;
constexpr int kReplicaCounts[] = {1, 2, 4};
// Alternated runs of one client against a sole server and a single replica.
constexpr int kLatencyRounds = 2;

// New replicas registered while clients call, and the client threads (a channel each) calling.
constexpr int kNewReplicaTrials = 10;
constexpr int kNewReplicaClients = 2;
// What the issue promises: a new replica takes calls within this time of registering.
constexpr double kNewReplicaTargetMs = 100;
// A trial whose replica took no call by then has failed.
constexpr auto kNewReplicaBound = std::chrono::seconds(5);

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Starts a replica of "bench.NewReplica" with one worker; each call it serves runs `on_call`, if
// any.
Status StartReplica(const std::shared_ptr<Pool>& pool, std::function<void()> on_call,
                    std::unique_ptr<Service>* service, std::unique_ptr<Server>* server) {
  *service = std::make_unique<Service>("bench.NewReplica");
  (*service)->AddMethod(
      "Echo", [on_call = std::move(on_call)](ServerContext*, const ReceivedMessage& request,
                                             ServerResponse* response) {
        if (on_call != nullptr) on_call();
        response->Copy(request.view());
        return Status::OK;
      });
  ServerBuilder builder(pool);
  builder.RegisterService(service->get()).SetWorkerThreads(1).ServeAsReplica();
  return builder.BuildAndStart(server);
}

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

// Prints the rows as a table, then calls/s against 1 replica and against grpc-http2-tcp, and the
// single-replica p50 through the balancing path against a sole server's.
void PrintRows(const std::vector<ReplicaRow>& rows, FILE* out) {
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
                 "replica %.3f us (%+.1f%%; both go through the balancing pick: its own cost "
                 "against the build before it is in docs/PERFORMANCE.md)\n",
                 kLatencyRounds, sole, replica, 100.0 * (replica - sole) / sole);
  }
}

// The smallest, median (nearest rank) and largest of `values`, which is not empty.
struct Spread {
  double min, p50, max;
};
Spread SpreadOf(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return {values.front(), values[(values.size() - 1) / 2], values.back()};
}

// Prints the new replicas' times to their first call against the target, and their
// BuildAndStart's.
void PrintNewReplica(const NewReplicaTimes& times, FILE* out) {
  if (times.first_call_ms.empty()) return;
  Spread first = SpreadOf(times.first_call_ms);
  Spread build = SpreadOf(times.build_ms);
  std::fprintf(out,
               "  a new replica's first call (%zu trials, %d client threads calling one running "
               "replica), ms after its BuildAndStart began: min %.1f, p50 %.1f, max %.1f "
               "(target: within %.0f ms); BuildAndStart itself: min %.1f, p50 %.1f, max %.1f\n",
               times.first_call_ms.size(), kNewReplicaClients, first.min, first.p50, first.max,
               kNewReplicaTargetMs, build.min, build.p50, build.max);
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

NewReplicaTimes MeasureNewReplicaFirstCall(const AllOptions& options, Failures* failures) {
  NewReplicaTimes times;
  std::fprintf(stderr, "notnets-bench: replicas: a new replica's first call, %d trials\n",
               kNewReplicaTrials);
  std::string pool_name = options.common.pool_name + "-new-replica";
  Pool::Remove(pool_name);
  std::shared_ptr<Pool> pool;
  Status status = Pool::Create(pool_name, PoolOptions(), &pool);
  std::unique_ptr<Service> running_service;
  std::unique_ptr<Server> running;
  if (status.ok()) status = StartReplica(pool, nullptr, &running_service, &running);
  if (!status.ok()) {
    failures->Add("replicas/new-replica", status);
    Pool::Remove(pool_name);
    return times;
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> answered{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kNewReplicaClients; ++i) {
    clients.emplace_back([&] {
      std::shared_ptr<Channel> channel;
      if (!Channel::Connect(pool, "bench.NewReplica", ChannelOptions(), &channel).ok()) return;
      while (!stop.load(std::memory_order_relaxed)) {
        ClientContext context;
        context.set_timeout(std::chrono::seconds(1));
        std::string response;
        // Calls the shut-down replicas had taken fail; the clients only keep calling.
        if (channel->Call("Echo", "x", &response, &context).ok()) answered.fetch_add(1);
      }
    });
  }
  // The clients call the running replica before any other registers.
  for (auto give_up = Clock::now() + kNewReplicaBound;
       answered.load() == 0 && Clock::now() < give_up;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (int trial = 0; trial < kNewReplicaTrials && answered.load() > 0; ++trial) {
    // Registrations land at different points of the channels' 50 ms refresh.
    std::this_thread::sleep_for(std::chrono::milliseconds(13 * trial % 50));
    std::atomic<int64_t> first_call_ns{0};
    std::unique_ptr<Service> service;
    std::unique_ptr<Server> server;
    int64_t registering_ns = NowNs();
    status = StartReplica(
        pool,
        [&first_call_ns] {
          int64_t none = 0;
          first_call_ns.compare_exchange_strong(none, NowNs(), std::memory_order_relaxed);
        },
        &service, &server);
    int64_t registered_ns = NowNs();
    for (auto give_up = Clock::now() + kNewReplicaBound;
         status.ok() && first_call_ns.load() == 0 && Clock::now() < give_up;) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    if (status.ok() && first_call_ns.load() == 0) {
      status = Status(StatusCode::DEADLINE_EXCEEDED, "the new replica took no call within 5 s");
    }
    if (!status.ok()) {
      failures->Add("replicas/new-replica", status);
      break;
    }
    times.first_call_ms.push_back(double(first_call_ns.load() - registering_ns) / 1e6);
    times.build_ms.push_back(double(registered_ns - registering_ns) / 1e6);
    server->Shutdown();
  }
  if (answered.load() == 0) {
    failures->Add("replicas/new-replica",
                  Status(StatusCode::UNAVAILABLE, "the clients never reached the first replica"));
  }
  stop.store(true);
  for (std::thread& client : clients) client.join();
  running->Shutdown();
  Pool::Remove(pool_name);
  return times;
}

void PrintReplicas(const std::vector<ReplicaRow>& rows, const NewReplicaTimes& new_replica,
                   FILE* out) {
  if (!rows.empty()) PrintRows(rows, out);
  PrintNewReplica(new_replica, out);
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
