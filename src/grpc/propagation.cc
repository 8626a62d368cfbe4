// ClientContext::FromServerContext and FromCallbackServerContext, defined here in place of gRPC's
// own, for the handlers of pool calls.
//
// gRPC 1.51 makes the new context's calls children of the server context's core call, and its
// core aborts the process when that call is not a server call. A directly dispatched pool call's
// context holds a stand-in (stand_in_call.h), a client call: a handler propagating its deadline
// downstream, as gRPC's documentation recommends, would crash its server. gRPC's definitions are
// in libgrpc++; a program linking notnets' gRPC library before it (as CMake's
// target_link_libraries(... notnets::grpc) does) calls these instead.
//
// For every parent they carry its deadline in the new context, so that a downstream call through
// the pool, which reads its context's deadline rather than its core call's, gets it too; for a
// parent that is a gRPC call they also make the new context's calls its children, as gRPC does
// (cancellation and census propagate through gRPC's core). A directly dispatched pool call
// keeps the children it adopts (child_calls.h) and cancels them with itself.
#include <grpc/grpc.h>
#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include <memory>

#include "grpc/cancel_watcher.h"
#include "grpc/server_context_access.h"
#include "grpc/stand_in_call.h"

namespace notnets::grpc::internal {
namespace {

std::unique_ptr<::grpc::ClientContext> ChildContextOf(const ::grpc::ServerContextBase& parent,
                                                      ::grpc::PropagationOptions options) {
  auto child = std::make_unique<::grpc::ClientContext>();
  if ((options.c_bitmask() & GRPC_PROPAGATE_DEADLINE) != 0) child->set_deadline(parent.deadline());
  // c_call() only reads; gRPC did not declare it const.
  grpc_call* call = const_cast<::grpc::ServerContextBase&>(parent).c_call();
  if (call == nullptr) return child;
  if (!StandInCall::Is(call)) {
    SetPropagation(child.get(), call, options);
  } else if ((options.c_bitmask() & GRPC_PROPAGATE_CANCELLATION) != 0) {
    if (WatchedCall* parent_call = StandInCall::WatchedCallOf(parent)) {
      parent_call->child_calls().Adopt(parent, child.get());
    }
  }
  return child;
}

}  // namespace
}  // namespace notnets::grpc::internal

namespace grpc {

std::unique_ptr<ClientContext> ClientContext::FromServerContext(
    const ServerContextBase& server_context, PropagationOptions options) {
  return notnets::grpc::internal::ChildContextOf(server_context, options);
}

std::unique_ptr<ClientContext> ClientContext::FromCallbackServerContext(
    const CallbackServerContext& server_context, PropagationOptions options) {
  return notnets::grpc::internal::ChildContextOf(server_context, options);
}

}  // namespace grpc
