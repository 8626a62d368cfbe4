// Calls that direct dispatch cannot run (completion-queue and mixed services, the synchronous
// API's streaming methods, and every call of a server with interceptors) carried from the pool
// into the grpc::Server through its in-process channel, as generic calls with the messages as
// bytes: they become real gRPC core calls, so everything gRPC's server does for a call
// (interceptors, TryCancel, AsyncNotifyWhenDone, auth_context) holds for them.
#ifndef NOTNETS_GRPC_BRIDGE_H_
#define NOTNETS_GRPC_BRIDGE_H_

#include <grpcpp/completion_queue.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/server.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "grpc/cancel_watcher.h"
#include "grpc/live_calls.h"
#include "notnets/grpc/binding.h"
#include "notnets/server.h"

namespace notnets::grpc::internal {

// What a call gets that reaches the pool side of a grpc::Server that has begun shutting down:
// UNAVAILABLE, the code gRPC 1.51 gives a new call over HTTP/2 then.
::grpc::Status ShuttingDown();

class Bridge {
 public:
  // Opens the in-process channel of `server`, which must have started. Its own message size
  // limits are lifted: the server's and the pool client's hold on either side of it.
  explicit Bridge(::grpc::Server* server);
  // After every call it carried is over.
  ~Bridge();

  // Carries the unary pool call `call` to "/service/method" `path`: its request `message` (in
  // the call's request), client
  // metadata, deadline and cancellation (seen by `watcher`) in, the server's metadata, status
  // and response out; `call` is finished when the gRPC call is. The call holds a `live` token
  // until it is gone.
  void Unary(const std::string& path, std::string_view message, notnets::ServerCall* call,
             CancelWatcher* watcher, LiveCalls* live);

  // The server has begun shutting down: calls fail with UNAVAILABLE from now on instead of
  // entering it (gRPC 1.51's in-process channel cannot start calls into a server shutting down).
  void Close() { closed_.store(true, std::memory_order_release); }

  // Attaches a bridge to the pool stream `stream` (as a reactor would) that carries it to
  // `path` with the messages of `method`, as a completion-queue call whose completions the
  // bridge's poller thread runs (bridge.cc says why not a callback call).
  void Stream(const std::string& path, const MethodBinding& method, ServerStream* stream);

 private:
  // Runs `start` unless the server is shutting down; false if it is.
  bool RunWhileServing(const std::function<void()>& start);

  ::grpc::Server* const server_;
  std::shared_ptr<::grpc::Channel> channel_;
  ::grpc::GenericStub stub_;
  std::atomic<bool> closed_{false};
  // The streams' calls complete here; `poller_` runs their completions.
  ::grpc::CompletionQueue queue_;
  std::thread poller_;
};

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_BRIDGE_H_
