// A gRPC call that goes through the pool: a client interceptor that hijacks the call and carries
// each of its batches (unary, or stream operations) as notnets calls.
#ifndef NOTNETS_GRPC_CLIENT_CALL_H_
#define NOTNETS_GRPC_CLIENT_CALL_H_

#include <grpcpp/support/client_interceptor.h>

#include <memory>
#include <string>

#include "grpc/message_limits.h"
#include "grpc/server_auth_contexts.h"
#include "grpc/stand_in_call.h"
#include "notnets/channel.h"
#include "notnets/grpc/binding.h"

namespace notnets::grpc::internal {

// Creates the interceptor of one call through `channel` (null: the call fails with `failure`,
// for a channel that has nowhere else to send it). `method` gives the call's kind and message
// types; a generic stub's call has none (null types): its messages are grpc::ByteBuffers.
// `path` empty: the call goes to the method's name in its own pool service; otherwise it is the
// call's full method name, carried on the pool service kGenericService (wire.h). `peer` is the
// kPoolPeerKey value, and `stand_in`'s peer the same: lent to the call's context
// (StandInCall::LendTo), it is what the context's peer() says. `server_auth` gives the context's
// auth_context() once the server answered. `limits`, the channel's message size limits, which
// the call enforces as gRPC's client does. All outlive the call.
::grpc::experimental::Interceptor* NewPoolCall(::grpc::experimental::ClientRpcInfo* info,
                                               const MethodBinding* method, std::string path,
                                               std::shared_ptr<notnets::Channel> channel,
                                               const std::string* peer, const StandInCall* stand_in,
                                               ServerAuthContexts* server_auth,
                                               const MessageLimits* limits, ::grpc::Status failure);

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_CLIENT_CALL_H_
