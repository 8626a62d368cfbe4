// One gRPC service served over the pool: a notnets server whose methods run the service's
// handlers directly, with no HTTP/2 and no gRPC core in between, or, for what that cannot run,
// carry the call into the grpc::Server through its in-process channel (bridge.h).
#ifndef NOTNETS_GRPC_POOL_SERVER_H_
#define NOTNETS_GRPC_POOL_SERVER_H_

#include <grpcpp/server.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "grpc/bridge.h"
#include "grpc/caller_stand_ins.h"
#include "grpc/cancel_watcher.h"
#include "grpc/live_calls.h"
#include "grpc/message_limits.h"
#include "grpc/server_stream.h"
#include "notnets/grpc/binding.h"
#include "notnets/grpc/server.h"
#include "notnets/server.h"

namespace notnets::grpc::internal {

class PoolServer {
 public:
  // Registers the service `binding` describes in the pool and starts serving it for `server`
  // (started), with its message size limits `limits`. The methods of `service` (an instance of
  // the binding's class, or null when only its name is known) that direct dispatch can run
  // (a Foo::CallbackService's, a Foo::Service's unary ones) run directly, unless `server` has
  // interceptors; every other call is bridged into `server`. The service's calls that its
  // methods cannot take as they come (a generic stub's stream of a method that is not bidi, a
  // method the binding lacks) come by full method name, as to kGenericService, and are bridged
  // too. Fails when the pool refuses.
  static notnets::Status Start(::grpc::Service* service, const ServiceBinding& binding,
                               const ServerOptions& options, const MessageLimits& limits,
                               ::grpc::Server* server, std::unique_ptr<PoolServer>* out);
  // Registers the pool service `name`, kGenericService or kUnimplementedService (wire.h), which
  // carries calls by their full method name into `server` (started) through its in-process
  // channel, whatever serves them there: a generic service (AsyncGenericService,
  // CallbackGenericService), a service the pool has no binding for (reflection), or gRPC's answer
  // to a method the server does not have. kUnimplementedService is served as a replica whatever
  // `options` say (its servers all answer alike). Fails when the pool refuses.
  static notnets::Status StartGeneric(const char* name, const ServerOptions& options,
                                      const MessageLimits& limits, ::grpc::Server* server,
                                      std::unique_ptr<PoolServer>* out);
  // Stops serving (after draining, with ServerOptions::drain_timeout), as gRPC's server does when
  // destroyed: no new call is taken, callback calls in flight are cancelled (IsCancelled(),
  // OnCancel), running handlers are waited for, then every
  // callback reactor's OnDone and the work deferred before it; the service leaves the pool. On
  // the deferrer's thread it runs the deferred work it waits for. Not from a handler or reaction
  // of this server's own calls: it would wait for itself (gRPC's server too).
  ~PoolServer();

  // The grpc::Server has begun shutting down: the service's entry in the pool closes, so that
  // channels send their new calls to its other replicas, and new calls that still come (from
  // channels with no other replica) are refused with ShuttingDown(), as gRPC refuses them over
  // HTTP/2; with ServerOptions::drain_timeout, only bridged ones are, and the others are served
  // until the server drains (~PoolServer). Calls in flight go on.
  void BeginShutdown();
  // True once no call is in flight: every handler returned and every reactor's OnDone ran
  // (a stream kept for its client's late operations counts as over).
  bool Idle();
  // Cancels the calls in flight, and those still taken (ServerOptions::drain_timeout), as gRPC
  // does when a Shutdown(deadline) expires; returns at once.
  void CancelCalls() { watcher_.CancelAll(); }

 private:
  PoolServer(::grpc::Service* service, const ServiceBinding& binding, const MessageLimits& limits);
  // Drains the notnets server first if so configured, then shuts it down.
  void StopNative();
  // Adds the method `name` of the notnets service, whose calls `start` takes once their initial
  // metadata passed the server's limit (MessageLimits::max_metadata).
  void AddCallStart(std::string name, notnets::AsyncMethodHandler start);
  // True (and `call` answered) when BeginShutdown refuses new calls.
  bool Refused(notnets::ServerCall* call);
  void AddSyncUnary(const MethodBinding& method);
  void AddCallbackUnary(const MethodBinding& method);
  void AddStreamOpen(const MethodBinding& method);
  void AddBridgedUnary(const MethodBinding& method);
  void AddBridgedStream(const MethodBinding& method);
  // Adds the methods that take calls by full method name (kGenericUnaryMethod,
  // kGenericOpenMethod): of any path when `own_service` is empty, else of its methods only.
  void AddGenericMethods(const std::string& own_service);
  // The bridge into the grpc::Server, made on first use; null once it has begun shutting down
  // without one (its in-process channel then takes no call).
  Bridge* TheBridge();
  void AddStreamOperations();
  // Opens the stream `id` of `method` (owned by the stream if `owned` holds it), with the
  // server-streaming request `message`, for the open call `call`.
  void OpenStream(uint64_t id, const MethodBinding* method,
                  std::unique_ptr<const MethodBinding> owned, std::string_view message,
                  notnets::ServerCall* call);
  // Registers `pool_server`'s service in the pool and starts serving it.
  static notnets::Status Register(std::unique_ptr<PoolServer> pool_server,
                                  const ServerOptions& options, std::unique_ptr<PoolServer>* out);

  ::grpc::Service* service_;
  const std::string service_name_;
  const MessageLimits limits_;
  std::chrono::milliseconds drain_timeout_{0};  // ServerOptions::drain_timeout
  // Set by BeginShutdown: directly dispatched calls and stream opens are refused.
  std::atomic<bool> refusing_{false};
  notnets::Service native_;
  ::grpc::Server* grpc_server_ = nullptr;
  // Made at the start when a method is bridged (whose handlers then read it without the mutex:
  // it never changes), else by the first call by full name; the bridged streaming methods,
  // whose streams attach a bridge.
  std::mutex bridge_mutex_;
  bool bridge_closed_ = false;
  std::unique_ptr<Bridge> bridge_;
  std::deque<MethodBinding> bridged_streams_;
  // Lent to the contexts of directly dispatched calls, so it goes after them.
  std::unique_ptr<CallerStandIns> stand_ins_;
  // Calls, streams, then the watcher that sweeps them, then the server whose handlers reach all:
  // destroyed in the reverse order.
  LiveCalls live_;
  StreamTable streams_;
  CancelWatcher watcher_;
  std::unique_ptr<notnets::Server> server_;
};

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_POOL_SERVER_H_
