// The server side of the native API: services registered by name in a pool's directory.
#ifndef NOTNETS_SERVER_H_
#define NOTNETS_SERVER_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "notnets/limits.h"
#include "notnets/message.h"
#include "notnets/metadata.h"
#include "notnets/peer_identity.h"
#include "notnets/pool.h"
#include "notnets/status.h"

namespace notnets {

namespace internal {
class BufferCache;
class ServerHost;
class ServerRuntime;
struct ServerConnection;
class Visibility;
struct ProcessIdentity;
}  // namespace internal

// What a handler knows about its call, named as in grpc::ServerContext.
class ServerContext {
 public:
  // Who called: verified uid and gid, unverified pid and host.
  const PeerIdentity& peer_identity() const { return peer_identity_; }
  // The caller's deadline: its remaining time, counted from when the handling began;
  // time_point::max() for none.
  std::chrono::steady_clock::time_point deadline() const { return deadline_; }
  // True once the client cancelled the call, its deadline passed, the client process died, or
  // (for an asynchronous call) the server is shutting down. Long handlers should poll it.
  bool IsCancelled() const;
  // The request headers.
  const Metadata& client_metadata() const { return client_metadata_; }
  // Adds response metadata sent before the message / with the status.
  void AddInitialMetadata(const std::string& key, const std::string& value) {
    initial_metadata_.emplace(key, value);
  }
  void AddTrailingMetadata(const std::string& key, const std::string& value) {
    trailing_metadata_.emplace(key, value);
  }

 private:
  friend class internal::ServerRuntime;
  std::chrono::steady_clock::time_point deadline_;
  // The client cancels by publishing this call's id in the call slot's cancel word.
  const std::atomic<uint64_t>* cancel_word_ = nullptr;
  uint64_t call_id_ = 0;
  const internal::Visibility* visibility_ = nullptr;
  // Set by the server's housekeeping, or here (at most every 100 ms) when no worker is free to
  // look: the client process is gone.
  std::atomic<bool>* client_died_ = nullptr;
  const internal::ProcessIdentity* client_ = nullptr;
  PeerIdentity peer_identity_;
  const std::atomic<bool>* server_stopping_ = nullptr;
  mutable std::chrono::steady_clock::time_point next_client_check_;
  Metadata client_metadata_;
  Metadata initial_metadata_;
  Metadata trailing_metadata_;
};

// The response a handler produces: a copy of some bytes, or a pool buffer filled in place.
class ServerResponse {
 public:
  // Sends a copy of `message`.
  void Copy(std::string_view message);
  // Obtains a pool buffer of at least `size` bytes to build the response in place (zero-copy).
  Status Allocate(size_t size, MessageBuffer* buffer);
  // Sends `buffer` (from Allocate) without copying.
  void Send(MessageBuffer buffer) { buffer_ = std::move(buffer); }

 private:
  friend class internal::ServerRuntime;
  friend class ServerCall;
  static constexpr size_t kInlineCapacity = kInlineMessageBytes;
  explicit ServerResponse(internal::BufferCache* cache) : cache_(cache) {}
  internal::BufferCache* cache_;
  MessageBuffer buffer_;
  uint8_t inline_[kInlineCapacity] = {};
  size_t inline_size_ = 0;
  Status error_;  // set if a copy did not fit in the pool
};

// A call answered later, from any thread: what an asynchronous handler receives. Its request,
// context and response stay valid until Finish, which must be called exactly once (the server's
// Shutdown waits for it; IsCancelled() turns true to hurry it).
class ServerCall {
 public:
  ServerCall(const ServerCall&) = delete;
  ServerCall& operator=(const ServerCall&) = delete;
  // The call's context, request and response, valid until Finish.
  ServerContext* context() { return &context_; }
  const ReceivedMessage& request() const { return request_; }
  ServerResponse* response() { return &response_; }
  // Sends the response (or `status` when it is not OK, as a MethodHandler's return) and destroys
  // this call.
  void Finish(const Status& status);

 private:
  friend class internal::ServerRuntime;
  ServerCall(internal::ServerRuntime* runtime, internal::ServerConnection* connection,
             uint64_t call_id, internal::BufferCache* cache)
      : runtime_(runtime), connection_(connection), call_id_(call_id), response_(cache) {}
  ~ServerCall() = default;
  internal::ServerRuntime* runtime_;
  internal::ServerConnection* connection_;
  uint64_t call_id_;
  // When a worker took the request, if the call is timed for the server's counters.
  std::chrono::steady_clock::time_point started_{};
  ServerContext context_;
  ReceivedMessage request_;
  ServerResponse response_;
};

// Handles one call. The request is valid only during the call. A non-OK status is sent to the
// client with its message; the response is then ignored.
using MethodHandler = std::function<Status(ServerContext* context, const ReceivedMessage& request,
                                           ServerResponse* response)>;

// Starts one call that is finished later with ServerCall::Finish, so that no worker thread waits
// for it. Runs on a worker thread; must not block. At-most-once calls are refused with
// FAILED_PRECONDITION: the window records results of MethodHandlers only.
using AsyncMethodHandler = std::function<void(ServerCall* call)>;

// A named service and its methods. Register it with a ServerBuilder; it must outlive the Server.
class Service {
 public:
  // A service that clients find under `name` (1..176 bytes, unique among the pool's live
  // services).
  explicit Service(std::string name) : name_(std::move(name)) {}
  // Adds a method; names are unique within the service.
  void AddMethod(std::string name, MethodHandler handler) {
    methods_.push_back({std::move(name), std::move(handler), nullptr});
  }
  // Adds a method whose calls are answered later.
  void AddAsyncMethod(std::string name, AsyncMethodHandler handler) {
    methods_.push_back({std::move(name), nullptr, std::move(handler)});
  }
  // The name clients connect to.
  const std::string& name() const { return name_; }

  // A method as added, with exactly one of its two handlers set.
  struct Method {
    std::string name;
    MethodHandler handler;             // set for a method added with AddMethod
    AsyncMethodHandler async_handler;  // set for a method added with AddAsyncMethod
  };
  // The methods in the order they were added.
  const std::vector<Method>& methods() const { return methods_; }

 private:
  std::string name_;
  std::vector<Method> methods_;
};

// Who may call a server's services, besides the server's own effective uid (always allowed: a
// process of the same uid could read the server's memory anyway). The server checks the caller's
// uid and gid as the kernel recorded them (PeerIdentity), when it accepts a connection; a caller
// allowed by neither list is refused, and its calls fail with PERMISSION_DENIED. Root is not
// special: a root caller must be listed like any other (it could read the pool's memory anyway,
// docs/security.md). Only the caller's effective gid counts, not its supplementary groups.
struct AllowedCallers {
  std::vector<uint32_t> uids;  // users that may call
  std::vector<uint32_t> gids;  // callers whose effective group is one of these may call
  bool anyone = false;         // every caller may call (a pool that many users share on purpose)

  // True if a caller of `uid` and `gid` may call a server running as `server_uid`.
  bool Allows(uint32_t server_uid, uint32_t uid, uint32_t gid) const;
};

// A running server: worker threads serving the registered services' connections.
class Server {
 public:
  ~Server();  // Shuts down if still running.
  // Unregisters the services, waits for running handlers to return and stops the workers, then
  // closes every connection: clients' calls that were not handled end with UNAVAILABLE.
  void Shutdown();
  // Blocks until Shutdown() is called from another thread.
  void Wait();
  // Leaves without failing a call, for a deploy: takes no new connections and tells channels to
  // send their new calls to the service's other replicas, serves the calls already sent until
  // none has arrived for 100 ms (or `timeout` passed), then shuts down. A call that still arrives
  // later, synchronous or asynchronous, is one the server never read: its channel sends it to
  // another replica.
  void Drain(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Drain's first step, without waiting: takes no new connections and tells channels to send
  // their new calls to the service's other replicas (a channel that has no other still sends them
  // here, and they are served). Returns at once; Drain or Shutdown ends what it begins.
  void BeginDrain();
  // Worker threads running now: between the builder's minimum and maximum; 0 after Shutdown.
  int WorkerThreads() const;
  // The most worker threads that ran at once since the server started.
  int PeakWorkerThreads() const;

 private:
  friend class ServerBuilder;
  explicit Server(std::unique_ptr<internal::ServerHost> host);
  std::unique_ptr<internal::ServerHost> host_;
};

// Builds and starts a Server, named as in grpc::ServerBuilder.
class ServerBuilder {
 public:
  // A builder of a server in `pool`, whose directory the services are registered in.
  explicit ServerBuilder(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) {}
  // Serves `service` (not owned; must outlive the server).
  ServerBuilder& RegisterService(Service* service) {
    services_.push_back(service);
    return *this;
  }
  // Number of worker threads that poll connections and run handlers (default 1): a fixed number,
  // the same as SetMinWorkerThreads(count) and SetMaxWorkerThreads(count).
  ServerBuilder& SetWorkerThreads(int count) {
    min_worker_threads_ = count;
    max_worker_threads_ = count;
    return *this;
  }
  // Workers that always run (1..1024, at most the maximum). Between the minimum and the maximum
  // the number follows the load (docs/threads.md): a worker is added whenever every running one
  // is in a handler, and one above the minimum that finds no work for a second leaves.
  ServerBuilder& SetMinWorkerThreads(int count) {
    min_worker_threads_ = count;
    return *this;
  }
  // Most workers at once (1..1024).
  ServerBuilder& SetMaxWorkerThreads(int count) {
    max_worker_threads_ = count;
    return *this;
  }
  // Pins the workers to `cpus` (CPU numbers this process may run on): worker i runs on
  // cpus[i % cpus.size()] alone. Empty (the default): the kernel places them.
  ServerBuilder& SetWorkerCpus(std::vector<int> cpus) {
    worker_cpus_ = std::move(cpus);
    return *this;
  }
  // Most connections the server holds at once from one client process (default 256), so that one
  // client cannot take every connection; at most 16384 in all. A connection over the limit is
  // refused: its client's calls fail with RESOURCE_EXHAUSTED saying so, and the server frees the
  // connection once the client leaves it or dies.
  ServerBuilder& SetMaxConnectionsPerClient(uint32_t count) {
    max_connections_per_client_ = count;
    return *this;
  }
  // Serves the services as one replica among others: any number of servers that all call this
  // may serve the same names at once, and channels spread their calls over them by load.
  ServerBuilder& ServeAsReplica() {
    replica_ = true;
    return *this;
  }
  // Lets processes of user `uid` call the services (AllowedCallers); by default only the
  // server's own effective uid may.
  ServerBuilder& AllowCallerUid(uint32_t uid) {
    allowed_callers_.uids.push_back(uid);
    return *this;
  }
  // Lets processes whose effective group is `gid` call the services.
  ServerBuilder& AllowCallerGid(uint32_t gid) {
    allowed_callers_.gids.push_back(gid);
    return *this;
  }
  // Lets user `uid` register servers (replicas, or a successor) under the names of the services
  // that this server is the first to register: a name belongs to the uid that first registered
  // it until the pool is removed (docs/security.md), every other uid's registration is refused
  // with PERMISSION_DENIED, and clients call only servers of the owner and the users it lists.
  // The first registration's list stays; later servers' lists change nothing. At most 4 users.
  ServerBuilder& AllowRegistrantUid(uint32_t uid) {
    registrants_.push_back(uid);
    return *this;
  }
  // Lets every process that can open the pool call the services.
  ServerBuilder& AllowAnyCaller() {
    allowed_callers_.anyone = true;
    return *this;
  }
  // Registers the services in the pool's directory and starts the workers. Fails with
  // ALREADY_EXISTS if a live server already serves one of the names (unless both serve it as
  // replicas), PERMISSION_DENIED if a name belongs to another user that does not list this one.
  Status BuildAndStart(std::unique_ptr<Server>* server);

 private:
  std::shared_ptr<Pool> pool_;
  std::vector<Service*> services_;
  int min_worker_threads_ = 1;
  int max_worker_threads_ = 1;
  std::vector<int> worker_cpus_;
  uint32_t max_connections_per_client_ = 256;
  bool replica_ = false;
  AllowedCallers allowed_callers_;
  std::vector<uint32_t> registrants_;
};

}  // namespace notnets

#endif  // NOTNETS_SERVER_H_
