// A gRPC core call that never starts, lent to the grpc::ServerContext of every directly
// dispatched pool call, and to the grpc::ClientContext of every pool call.
//
// gRPC 1.51's ServerContext::TryCancel() and peer() are not virtual, and both use the context's
// core call, which a pool call does not have: with none, peer() is empty and TryCancel() crashes
// (it cancels a null call). Given the stand-in, peer() names the pool, and TryCancel() first runs
// the context's server interceptors at PRE_SEND_CANCEL, where a hook of ours cancels the pool
// call, then cancels the stand-in, which nothing waits for. A client context's peer() is
// likewise its core call's (which, hijacked before it connected, would name the channel's
// target): given the stand-in, it names the pool.
#ifndef NOTNETS_GRPC_STAND_IN_CALL_H_
#define NOTNETS_GRPC_STAND_IN_CALL_H_

#include <grpc/grpc.h>
#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include <string>

#include "grpc/cancel_watcher.h"

namespace notnets::grpc::internal {

class StandInCall {
 public:
  // `peer` is what peer() returns on the contexts it is lent to.
  explicit StandInCall(const std::string& peer);
  // After every context it was lent to is gone.
  ~StandInCall();
  StandInCall(const StandInCall&) = delete;
  StandInCall& operator=(const StandInCall&) = delete;

  // Lends the stand-in to `context` (which releases it when destroyed), and makes its
  // TryCancel() call `call`'s CancelByServer(). Once per context, before its handler runs;
  // `method` must outlive the context.
  void Lend(::grpc::ServerContextBase* context, WatchedCall* call, const char* method,
            ::grpc::internal::RpcMethod::RpcType type) const;
  // Lends the stand-in to the client context `context` (which releases it when destroyed), in
  // place of its own core call, which it returns with its reference: the caller releases it once
  // the context is gone, as gRPC's operations on the call use it until then. The context's
  // TryCancel() still reaches the call's interceptors (a pool call's own).
  grpc_call* LendTo(::grpc::ClientContext* context) const;

  // Whether `call` is the core call of a stand-in (of any pool call of this process).
  static bool Is(grpc_call* call);
  // The call whose context `context` is, if a stand-in was lent to it (Lend); null otherwise.
  static WatchedCall* WatchedCallOf(const ::grpc::ServerContextBase& context);

 private:
  grpc_channel* channel_;
  grpc_completion_queue* queue_;
  grpc_call* call_;
};

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_STAND_IN_CALL_H_
