// The caller of a bridged pool call (bridge.h), carried to the handler's context as a directly
// dispatched call's is (caller_stand_ins.h): the bridge names the caller in an entry of the
// in-process call's metadata, and a server interceptor of ours, which sees the call before the
// user's interceptors, makes the context's auth_context() the caller's and takes the entry out, so
// that neither the handler nor the user's interceptors see it. The entry carries a secret this
// process drew, which nothing outside it learns: a client elsewhere that sends the entry is taken
// for nobody.
#ifndef NOTNETS_GRPC_BRIDGED_CALLER_H_
#define NOTNETS_GRPC_BRIDGED_CALLER_H_

#include <grpcpp/client_context.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "notnets/peer_identity.h"

namespace notnets::grpc::internal {

// The key of the entry. A client's own entry under it is not forwarded.
inline constexpr char kBridgedCallerKey[] = "notnets-bridged-caller";

// Names `caller` in the metadata `context` is to send through the in-process channel.
void AddBridgedCaller(const notnets::PeerIdentity& caller, ::grpc::ClientContext* context);

// The interceptors that give bridged calls' contexts their callers' auth contexts. For every
// server that serves over the pool, seeing each call before the user's.
std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface>
NewBridgedCallerInterceptors();

// Whether `factory` was made by NewBridgedCallerInterceptors: a server with no other runs no
// interceptor of its users.
bool IsBridgedCallerInterceptors(
    const ::grpc::experimental::ServerInterceptorFactoryInterface& factory);

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_BRIDGED_CALLER_H_
