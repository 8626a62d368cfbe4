// The server side at work: accepting connections from the directory, polling their request
// rings from worker threads, running handlers and publishing responses.
#ifndef NOTNETS_RPC_SERVER_RUNTIME_H_
#define NOTNETS_RPC_SERVER_RUNTIME_H_

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "channel/connection.h"
#include "channel/ring.h"
#include "notnets/server.h"
#include "pool/call_window.h"
#include "pool/directory.h"
#include "pool/doorbell.h"
#include "pool/lease.h"
#include "pool/process_identity.h"
#include "rpc/connection_scheduler.h"
#include "rpc/mutex.h"
#include "rpc/server_connection.h"
#include "rpc/worker_pool.h"

namespace notnets::internal {

class ServerRuntime {
 public:
  // Most connections one server holds at once.
  static constexpr uint32_t kMaxConnections = 16384;
  // Most requests a lone worker handles in a row from one connection before it polls the others.
  static constexpr uint32_t kRequestBatch = 16;
  // Worker passes between two looks at new and closed connections while busy.
  static constexpr uint64_t kSlowPassInterval = 64;
  // Longest sleep of an idle worker: it still looks for closed connections this often.
  static constexpr std::chrono::milliseconds kIdleSleep{50};
  // A connection with no request for two cool-down intervals goes cold: it is polled in turn,
  // kColdPollsPerPass connections per pass, instead of on every pass. The measured cost: a few
  // idle connections cost the busy ones nothing, and the first request on a cold one waits up to
  // (connections / kColdPollsPerPass) passes.
  static constexpr std::chrono::milliseconds kCoolDownInterval{1};
  static constexpr uint32_t kColdPollsPerPass = 2;
  static constexpr uint32_t kClosedChecksPerSlowPass = 64;
  // How often housekeeping asks the kernel whether each client process still exists.
  static constexpr std::chrono::milliseconds kClientCheckInterval{100};
  // How long the server keeps its side of a refused connection, for the client to read why.
  static constexpr std::chrono::milliseconds kRefusalHold{5000};
  // Refused connections of one client process kept at once: past it the oldest is let go at
  // once, so that a client that keeps opening connections it may not have costs the server at
  // most this many segments.
  static constexpr uint32_t kMostRefusedPerClient = 8;
  // How often housekeeping frees the connections of this entry's earlier servers whose clients
  // died too, and those whose clients died before this server accepted them
  // (FreeOrphanedConnections, FreeUnacceptedConnectionsOfDeadClients: walks of the heap).
  static constexpr std::chrono::milliseconds kOrphanSweepInterval{1000};
  // How often the services' counters are written back for other hosts (ServiceCounters).
  static constexpr std::chrono::milliseconds kCountersWriteBackInterval{10};

  // Registers `services` in the pool's directory (in `mode`: beside other replicas or alone) and
  // starts the workers `workers` asks for, which hold at most `max_connections_per_client`
  // connections of one client process and accept only the callers `callers` allows; the names
  // they are the first to register also take the users `registrants`.
  static Status Start(std::shared_ptr<Pool> pool, const std::vector<Service*>& services,
                      const WorkerPolicy& workers, std::unique_ptr<ServerRuntime>* runtime,
                      uint32_t max_connections_per_client = kMaxConnections,
                      ReplicaMode mode = ReplicaMode::kSole,
                      const AllowedCallers& callers = AllowedCallers(),
                      const std::vector<uint32_t>& registrants = {},
                      std::function<void()> on_rejoined = nullptr);
  ~ServerRuntime();

  // Stops the workers, waits for asynchronous calls to finish, and closes every connection.
  void Shutdown();
  // How long no request may have been taken before a draining server counts as quiet: clients
  // that chose this replica just before it began draining have sent their calls by then.
  static constexpr std::chrono::milliseconds kDrainQuiet{100};
  // Closes the services to new connections and new calls (the entries turn kClosing, which
  // channels see before each call), serves until no call is running and none was taken for
  // kDrainQuiet, or until `timeout`, then shuts down.
  void Drain(std::chrono::milliseconds timeout);
  // Drain's first step: the entries turn kClosing, and nothing waits.
  void BeginDrain();
  void Wait();

  // Answers an asynchronous call (ServerCall::Finish).
  void FinishAsync(ServerCall* call, Status status);

  // The workers running now and the most that ran at once (for tests and the benchmark).
  uint32_t workers_running() const { return worker_pool_->running(); }
  uint32_t workers_peak() const { return worker_pool_->peak(); }

 private:
  friend class ServerRuntimeFuzzAccess;  // fuzz/connection_fuzzer.cc runs the workers' steps
  using Connection = ServerConnection;
  struct Retired {
    std::unique_ptr<Connection> connection;
    std::vector<uint64_t> passes;  // each worker's pass count when it was retired
  };

  // Marks a worker's pass count while no worker runs in its slot: it holds no connection.
  static constexpr uint64_t kSlotParked = uint64_t{1} << 63;

  ServerRuntime(std::shared_ptr<Pool> pool, const WorkerPolicy& workers);

  void WorkerLoop(uint32_t worker);
  // Called by an idle worker after each pass that found no work: once it has found none for
  // WorkerPool::kIdleRetire since `*idle_since` (set on the first call), true if it may leave.
  bool RetireIfIdle(uint32_t worker, uint64_t pass,
                    std::chrono::steady_clock::time_point* idle_since);
  // Takes a request from the connection in `slot` (if `take_request`) and handles it, and with a
  // lone worker up to kRequestBatch of them; true if there was one. With `check_closed`, retires
  // the connection if its client has gone.
  bool Poll(uint32_t slot, Connection* connection, bool check_closed, bool take_request);
  // Polls every hot connection once; true if one had a request.
  bool PollHot(uint32_t used);
  // Polls the next `turns` connections in round-robin order (cold ones only, unless
  // `check_closed`); a connection that had a request becomes hot.
  bool PollInTurn(uint32_t used, uint32_t turns, bool check_closed);
  // Turns connections that stayed quiet cold.
  void CoolDown() NOTNETS_REQUIRES(housekeeping_);
  // Writes the services' counters back (at most every kCountersWriteBackInterval).
  void WriteBackCounters() NOTNETS_REQUIRES(housekeeping_);
  // An idle worker sleeps on the doorbell until a client rings it (or kIdleSleep passes).
  void SleepUntilRung();
  // True if a request or a connection is waiting, or the server is stopping.
  bool HasWork() const;
  bool AcceptPending();
  // Marks the connections whose client process has died (at most every kClientCheckInterval).
  void CheckClients() NOTNETS_REQUIRES(housekeeping_);
  // Frees orphaned connections of the services' earlier generations, and connections whose
  // client died before this server accepted them (every kOrphanSweepInterval).
  void SweepOrphans() NOTNETS_REQUIRES(housekeeping_);
  // Starts serving a connection, or refuses it at a connection limit; false if it is open here
  // already.
  bool Accept(const RegisteredService& service, ConnectionView view)
      NOTNETS_EXCLUDES(retired_mutex_);
  // Frees refused connections once their client has left them or died (with CheckClients), or
  // all of them (at shutdown, as far as their clients are gone; the others are the clients' to
  // free).
  void FreeRefused(bool shutting_down) NOTNETS_EXCLUDES(retired_mutex_);
  // Leaves a connection whose client has gone.
  void Retire(uint32_t slot, Connection* connection) NOTNETS_REQUIRES(connection->polling);
  // Frees retired connections no worker can still be looking at.
  void ReclaimRetired() NOTNETS_EXCLUDES(retired_mutex_);
  void Handle(Connection* connection, const Message& request);
  // The index in services_ of the service `connection` reached.
  size_t ServiceIndex(const Connection& connection) const {
    return static_cast<size_t>(connection.service - services_.data());
  }
  // Starts an asynchronous call: the call keeps the connection (and the server) until Finish.
  void StartAsync(Connection* connection, ServerCall* call, const AsyncMethodHandler& handler);
  // Reads a request's payload, headers and deadline into `call`; a non-OK status (the call's
  // answer) if it cannot run, with `*violated` set if the client broke the protocol.
  Status Decode(Connection* connection, const Message& request, ServerCall* call, bool* violated);
  // A handler's status as sent: a response that did not fit, or a passed deadline, overrides OK.
  static Status Conclude(const ServerContext& context, const ServerResponse& response,
                         Status status);
  // Closes a connection whose client broke the protocol; it is retired once idle and
  // ClientCanSeeClosure.
  void CloseForViolation(Connection* connection);
  // True once retiring `connection` no longer hides why it was closed from its client: the client
  // has this side's segment open (retiring removes its name, and a client that had not attached it
  // yet would only find the server gone), has left it, or broke the segments themselves.
  bool ClientCanSeeClosure(const Connection& connection) const;
  // Runs a handler, turning exceptions and a passed deadline into their statuses.
  Status RunHandler(const MethodHandler& handler, ServerContext* context,
                    const ReceivedMessage& request, ServerResponse* response);
  // Runs an at-most-once call through the pool's window of recent results.
  Status RunAtMostOnce(uint64_t token, const MethodHandler& handler, ServerContext* context,
                       const ReceivedMessage& request, ServerResponse* response);
  void Respond(Connection* connection, uint64_t call_id, const Status& status,
               const ServerContext* context, ServerResponse* response);
  // Shutdown of a server that lost its lease: stops the workers and drops what the process
  // holds, without writing into the pool (its peers reclaimed the connections).
  void ShutDownFenced();

  std::shared_ptr<Pool> pool_;
  Lease& lease_;  // the pool mapping's: whether this process may still write
  // The lease's epoch when the services were registered: once the process rejoined under a new
  // identity this runtime writes nothing more, and tells `on_rejoined_` (once) so that a new
  // runtime registers the services again (ServerHost).
  uint64_t epoch_ = 0;
  std::function<void()> on_rejoined_;
  std::atomic<bool> told_rejoined_{false};
  Allocator allocator_;
  Directory directory_;
  CallWindow window_;
  std::vector<RegisteredService> services_;
  Doorbell doorbell_;
  ConnectionScheduler<Connection, kMaxConnections> connections_;
  TryFlag housekeeping_;  // one worker accepts and reclaims at a time
  std::chrono::steady_clock::time_point next_client_check_ NOTNETS_GUARDED_BY(housekeeping_);
  std::chrono::steady_clock::time_point next_cool_down_ NOTNETS_GUARDED_BY(housekeeping_);
  std::chrono::steady_clock::time_point next_orphan_sweep_ NOTNETS_GUARDED_BY(housekeeping_);
  std::chrono::steady_clock::time_point next_counters_write_back_ NOTNETS_GUARDED_BY(housekeeping_);
  Mutex retired_mutex_;
  std::vector<Retired> retired_ NOTNETS_GUARDED_BY(retired_mutex_);
  std::unordered_set<uint64_t> open_blocks_
      NOTNETS_GUARDED_BY(retired_mutex_);  // connections served now
  uint32_t max_connections_per_client_ = kMaxConnections;
  // Who may call, and this process's effective uid, which always may (AllowedCallers).
  AllowedCallers allowed_callers_;
  uint32_t own_uid_ = 0;
  // Connections served now, by client liveness token.
  std::unordered_map<uint64_t, uint32_t> per_client_ NOTNETS_GUARDED_BY(retired_mutex_);
  // Connections served now, by index in services_: published in each service's counters.
  std::vector<uint64_t> open_per_service_ NOTNETS_GUARDED_BY(retired_mutex_);
  // Connections refused (kClosedAtLimit, kClosedNotAllowed), not yet detached.
  struct Refused {
    ConnectionView view;
    ProcessIdentity client;
    std::chrono::steady_clock::time_point since;
  };
  std::vector<Refused> refused_ NOTNETS_GUARDED_BY(retired_mutex_);
  const uint32_t worker_count_;
  // Passes the worker in each slot completed, counted on across the workers a slot has had;
  // with kSlotParked while the slot has none.
  std::unique_ptr<std::atomic<uint64_t>[]> worker_passes_;
  std::unique_ptr<WorkerPool> worker_pool_;
  std::atomic<bool> stopping_{false};
  Mutex async_mutex_;
  CondVar async_done_;
  uint64_t async_calls_ NOTNETS_GUARDED_BY(async_mutex_) = 0;  // started and not yet finished
  Mutex shutdown_mutex_;
  CondVar shutdown_done_;
  bool shut_down_ NOTNETS_GUARDED_BY(shutdown_mutex_) = false;
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_SERVER_RUNTIME_H_
