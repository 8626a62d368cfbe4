// The server side at work: accepting connections from the directory, polling their request
// rings from worker threads, running handlers and publishing responses.
#ifndef NOTNETS_RPC_SERVER_RUNTIME_H_
#define NOTNETS_RPC_SERVER_RUNTIME_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "channel/connection.h"
#include "channel/ring.h"
#include "notnets/server.h"
#include "pool/call_window.h"
#include "pool/directory.h"
#include "pool/doorbell.h"
#include "pool/process_identity.h"
#include "rpc/buffer_cache.h"

namespace notnets::internal {

// A service this server registered in the directory.
struct RegisteredService {
  Service* service;
  ServiceRef ref;
};

// One client's connection as a server holds it.
struct ServerConnection {
  ServerConnection(const ConnectionView& view, const RegisteredService* service,
                   std::shared_ptr<Pool> pool);
  ConnectionView view;
  const RegisteredService* service;
  std::shared_ptr<BufferCache> cache;
  RingReader requests;
  RingWriter responses;
  std::atomic_flag polling = ATOMIC_FLAG_INIT;  // held while reading `requests`
  // Calls taken and not yet answered (synchronous handlers running, asynchronous calls not yet
  // finished): the connection is not retired while there are any.
  std::atomic<uint32_t> handlers_running{0};
  std::atomic<uint32_t> requests_taken{0};  // written by the poller, read by CoolDown
  uint32_t taken_at_cool_down = 0;          // CoolDown only
  uint32_t quiet_intervals = 0;             // CoolDown only
  ProcessIdentity client;                   // read once at accept
  std::atomic<bool> client_dead{false};     // set by housekeeping
  std::atomic<bool> violated{false};        // the client sent garbage: closed
  bool retired = false;                     // guarded by `polling`
};

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

  // Registers `services` in the pool's directory and starts `workers` threads.
  static Status Start(std::shared_ptr<Pool> pool, const std::vector<Service*>& services,
                      int workers, std::unique_ptr<ServerRuntime>* runtime);
  ~ServerRuntime();

  // Stops the workers, waits for asynchronous calls to finish, and closes every connection.
  void Shutdown();
  void Wait();

  // Answers an asynchronous call (ServerCall::Finish).
  void FinishAsync(ServerCall* call, Status status);

 private:
  friend class ServerRuntimeFuzzAccess;  // fuzz/connection_fuzzer.cc runs the workers' steps
  using Connection = ServerConnection;
  struct Retired {
    std::unique_ptr<Connection> connection;
    std::vector<uint64_t> passes;  // each worker's pass count when it was retired
  };

  ServerRuntime(std::shared_ptr<Pool> pool, int workers);

  void WorkerLoop(uint32_t worker);
  // Takes a request from the connection in `slot` (if `take_request`) and handles it, and with a
  // lone worker up to kRequestBatch of them; true if there was one. With `check_closed`, retires
  // the connection if its client has gone.
  bool Poll(uint32_t slot, Connection* connection, bool check_closed, bool take_request);
  // Polls every hot connection once; true if one had a request.
  bool PollHot(uint32_t used);
  // Polls the next `turns` connections in round-robin order (cold ones only, unless
  // `check_closed`); a connection that had a request becomes hot.
  bool PollInTurn(uint32_t used, uint32_t turns, bool check_closed);
  // Under housekeeping: turns connections that stayed quiet cold.
  void CoolDown();
  bool IsHot(uint32_t slot) const;
  void SetHot(uint32_t slot, bool hot);
  // An idle worker sleeps on the doorbell until a client rings it (or kIdleSleep passes).
  void SleepUntilRung();
  // True if a request or a connection is waiting, or the server is stopping.
  bool HasWork() const;
  bool AcceptPending();
  // Marks the connections whose client process has died (at most every kClientCheckInterval).
  void CheckClients();
  // Starts serving a connection; false if it is open here already.
  bool Accept(const RegisteredService& service, const ConnectionView& view);
  // Under `polling`: leaves a connection whose client has gone.
  void Retire(uint32_t slot, Connection* connection);
  // Frees retired connections no worker can still be looking at.
  void ReclaimRetired();
  void Handle(Connection* connection, const Message& request);
  // Starts an asynchronous call: the call keeps the connection (and the server) until Finish.
  void StartAsync(Connection* connection, ServerCall* call, const AsyncMethodHandler& handler);
  // Reads a request's payload, headers and deadline into `call`; a non-OK status (the call's
  // answer) if it cannot run, with `*violated` set if the client broke the protocol.
  Status Decode(Connection* connection, const Message& request, ServerCall* call, bool* violated);
  // A handler's status as sent: a response that did not fit, or a passed deadline, overrides OK.
  static Status Conclude(const ServerContext& context, const ServerResponse& response,
                         Status status);
  // Closes a connection whose client broke the protocol; it is retired once idle.
  void CloseForViolation(Connection* connection);
  // Runs a handler, turning exceptions and a passed deadline into their statuses.
  Status RunHandler(const MethodHandler& handler, ServerContext* context,
                    const ReceivedMessage& request, ServerResponse* response);
  // Takes an at-most-once call's token out of the request headers; false if there is none.
  static bool TakeCallToken(Metadata* metadata, uint64_t* token);
  // Runs an at-most-once call through the pool's window of recent results.
  Status RunAtMostOnce(uint64_t token, const MethodHandler& handler, ServerContext* context,
                       const ReceivedMessage& request, ServerResponse* response);
  void Respond(Connection* connection, uint64_t call_id, const Status& status,
               const ServerContext* context, ServerResponse* response);

  std::shared_ptr<Pool> pool_;
  Allocator allocator_;
  Directory directory_;
  CallWindow window_;
  std::vector<RegisteredService> services_;
  Doorbell doorbell_;
  std::unique_ptr<std::atomic<Connection*>[]> connections_;
  std::atomic<uint32_t> connection_slots_used_{0};  // high-water mark of connections_
  std::unique_ptr<std::atomic<uint64_t>[]> hot_;    // bit per slot: polled on every pass
  // Bit per word of hot_ that may have a bit set: a pass looks only at those words, so that
  // thousands of idle connections cost it nothing.
  std::atomic<uint64_t> hot_words_[kMaxConnections / 64 / 64] = {};
  std::atomic<uint32_t> cursor_{0};                   // next slot to poll in turn
  std::atomic_flag housekeeping_ = ATOMIC_FLAG_INIT;  // one worker accepts and reclaims at a time
  std::chrono::steady_clock::time_point next_client_check_;  // guarded by housekeeping_
  std::chrono::steady_clock::time_point next_cool_down_;     // guarded by housekeeping_
  std::mutex retired_mutex_;
  std::vector<Retired> retired_;              // guarded by retired_mutex_
  std::unordered_set<uint64_t> open_blocks_;  // connections served now; guarded by retired_mutex_
  const uint32_t worker_count_;
  std::unique_ptr<std::atomic<uint64_t>[]> worker_passes_;  // passes each worker completed
  std::vector<std::thread> workers_;
  std::atomic<bool> stopping_{false};
  std::mutex async_mutex_;
  std::condition_variable async_done_;
  uint64_t async_calls_ = 0;  // started and not yet finished; guarded by async_mutex_
  std::mutex shutdown_mutex_;
  std::condition_variable shutdown_done_;
  bool shut_down_ = false;
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_SERVER_RUNTIME_H_
