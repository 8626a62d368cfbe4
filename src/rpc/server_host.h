// What a Server runs: its current ServerRuntime, and the thread that replaces it once the process
// rejoined the pool under a new identity after a fence (its peers reclaimed the old runtime's
// connections and may take over its directory entries). The new runtime registers the same
// services under the new token and serves again. See docs/protocol.md, "Leases and fencing".
#ifndef NOTNETS_RPC_SERVER_HOST_H_
#define NOTNETS_RPC_SERVER_HOST_H_

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "notnets/server.h"
#include "rpc/mutex.h"
#include "rpc/server_runtime.h"

namespace notnets::internal {

// ServerRuntime::Start's arguments, kept to start it again.
struct ServerPlan {
  std::shared_ptr<Pool> pool;
  std::vector<Service*> services;
  WorkerPolicy workers;
  uint32_t max_connections_per_client = ServerRuntime::kMaxConnections;
  ReplicaMode mode = ReplicaMode::kSole;
  AllowedCallers callers;
  std::vector<uint32_t> registrants;
};

class ServerHost {
 public:
  // Starts the first runtime as `plan` says (its errors are ServerRuntime::Start's), and the
  // thread that replaces it after a rejoin.
  static Status Start(ServerPlan plan, std::unique_ptr<ServerHost>* host);
  // Shuts down and joins the rejoin thread.
  ~ServerHost();
  ServerHost(const ServerHost&) = delete;
  ServerHost& operator=(const ServerHost&) = delete;

  // Stops the current runtime (Server::Shutdown) and starts no other. Thread-safe.
  void Shutdown();
  // Returns once Shutdown was called (Server::Wait).
  void Wait();
  // Drains the current runtime (Server::Drain): no new calls, those in flight finish.
  void Drain(std::chrono::milliseconds timeout);
  // Closes the current runtime's services to new connections and calls (Server::BeginDrain), and
  // those of every runtime that replaces it.
  void BeginDrain();
  // Workers the current runtime runs now, and the most any runtime of this host ran at once.
  uint32_t workers_running();
  uint32_t workers_peak();

 private:
  explicit ServerHost(ServerPlan plan) : plan_(std::move(plan)) {}
  Status StartRuntime(std::unique_ptr<ServerRuntime>* runtime);
  // A runtime's worker saw the process rejoin: wakes the rejoin thread.
  void Rejoined();
  // The rejoin thread: shuts a fenced runtime down (it writes nothing) and starts another, again
  // and again until one starts (the directory may still hold the old entries) or Shutdown.
  void RejoinLoop();

  const ServerPlan plan_;
  // Held while the runtime is used or replaced: never by a runtime's worker (Rejoined takes only
  // signal_mutex_), since replacing one joins its workers.
  Mutex runtime_mutex_;
  std::unique_ptr<ServerRuntime> runtime_ NOTNETS_GUARDED_BY(runtime_mutex_);
  uint32_t replaced_peak_ NOTNETS_GUARDED_BY(runtime_mutex_) = 0;  // of the runtimes replaced
  Mutex signal_mutex_;
  CondVar signal_;
  bool rejoined_ NOTNETS_GUARDED_BY(signal_mutex_) = false;
  bool shut_down_ NOTNETS_GUARDED_BY(signal_mutex_) = false;
  bool draining_ NOTNETS_GUARDED_BY(runtime_mutex_) = false;
  std::thread rejoin_thread_;
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_SERVER_HOST_H_
