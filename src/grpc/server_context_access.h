// Fills in a grpc::ServerContextBase for a call that arrived through the pool, and reads back
// what the handler put in it; reads the metadata a grpc::ClientContext is to send, and gives it
// its server's identity; finds the services of a grpc::ServerBuilder, the grpc::Server a builder
// plugin starts, whether it has interceptors or a generic service, and which methods of a
// grpc::Service are raw.
//
// gRPC 1.51 offers no public way to give a context a deadline, client metadata or a cancellation
// without a gRPC core call, nor to reach the server a plugin runs in; its members are private. This
// file alone reaches them, through the rule that explicit template instantiations are not
// access-checked ([temp.spec]/6 in C++20), so the dependence on gRPC's private layout is in one
// place, checked by the build against the gRPC version it compiles with.
#ifndef NOTNETS_GRPC_SERVER_CONTEXT_ACCESS_H_
#define NOTNETS_GRPC_SERVER_CONTEXT_ACCESS_H_

#include <grpcpp/client_context.h>
#include <grpcpp/impl/server_initializer.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "notnets/metadata.h"

namespace notnets::grpc::internal {

using ServerInterceptorFactories =
    std::vector<std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface>>;

// Sets the deadline the handler sees (steady_clock::time_point::max() for none).
void SetDeadline(::grpc::ServerContextBase* context,
                 std::chrono::steady_clock::time_point deadline);
// Sets the client metadata; `metadata` must outlive the context's use (it is not copied).
void SetClientMetadata(::grpc::ServerContextBase* context, const Metadata& metadata);
// Gives `context` the core call `call`, whose reference the context releases when destroyed.
void SetCall(::grpc::ServerContextBase* context, grpc_call* call);
// Gives `context` the server interceptors `factories` make, for call `method` ("/pkg.S/M", which
// must outlive the context) of kind `type`, as gRPC does for a call of its own.
void SetServerRpcInfo(::grpc::ServerContextBase* context, const char* method,
                      ::grpc::internal::RpcMethod::RpcType type,
                      const ServerInterceptorFactories& factories);
// Makes auth_context() return `auth` (gRPC builds one from the core call only when none is set).
void SetAuthContext(::grpc::ServerContextBase* context,
                    std::shared_ptr<const ::grpc::AuthContext> auth);
// Makes GetRpcAllocatorState() return `state`.
void SetAllocatorState(::grpc::ServerContextBase* context, ::grpc::RpcAllocatorState* state);
// Makes IsCancelled() return true.
void MarkCancelled(::grpc::ServerContextBase* context);
// The metadata the handler added.
const std::multimap<std::string, std::string>& InitialMetadata(
    const ::grpc::ServerContextBase& context);
const std::multimap<std::string, std::string>& TrailingMetadata(
    const ::grpc::ServerContextBase& context);

// The initial metadata a client call sends. A batch that sends them shows the same map; a call
// whose metadata are corked starts with a batch that does not.
const std::multimap<std::string, std::string>& SendInitialMetadata(
    const ::grpc::ClientContext& context);

// Makes the client context's auth_context() return `auth` (gRPC builds one from the core call
// only when none is set).
void SetAuthContext(::grpc::ClientContext* context,
                    std::shared_ptr<const ::grpc::AuthContext> auth);

// Gives the client context `context` the core call `call` (a reference of its own) and returns
// the one it had, whose reference passes to the caller.
grpc_call* ReplaceCall(::grpc::ClientContext* context, grpc_call* call);
// Makes the calls of `context` children of the server call `parent`, with what `options`
// propagates, as ClientContext::FromServerContext does in gRPC.
void SetPropagation(::grpc::ClientContext* context, grpc_call* parent,
                    ::grpc::PropagationOptions options);

// The server interceptors of `context`'s call (null before it has any), in their order.
const std::vector<std::unique_ptr<::grpc::experimental::Interceptor>>* ServerInterceptorsOf(
    const ::grpc::ServerContextBase& context);

// The server `initializer` belongs to (what a ServerBuilderPlugin's InitServer and Finish get).
::grpc::Server* ServerOf(::grpc::ServerInitializer* initializer);
// Holds `server`'s Shutdown before it finishes (gRPC's own reference for each callback call in
// flight), until UnrefServer.
void RefServer(::grpc::Server* server);
void UnrefServer(::grpc::Server* server);
// Runs `start` (which must not block) unless `server` has begun shutting down, with the
// server's own lock held, so that its shutdown cannot begin meanwhile: gRPC 1.51 crashes creating
// a call on its in-process channel once it has. Returns whether it ran; false at once when
// `give_up()` holds while the lock is busy.
bool RunWhileServing(::grpc::Server* server, const std::function<bool()>& give_up,
                     const std::function<void()>& start);
// The services registered on `builder` so far.
std::vector<::grpc::Service*> ServicesOf(::grpc::ServerBuilder* builder);
// The factories of the server interceptors `server` was built with (ServerBuilder::experimental()
// .SetInterceptorCreators, then AppendInterceptors'), which gRPC runs only for calls of its own.
const ServerInterceptorFactories& InterceptorFactoriesOf(::grpc::Server* server);
// Makes `factory`'s interceptors the last of the server `builder` builds: gRPC runs a server's
// interceptors on what a call receives from the last to the first, so these see the client's
// metadata before the user's do. From a ServerBuilderPlugin's UpdateServerBuilder, which
// BuildAndStart runs after everything the user set on the builder and before it builds the server.
void AppendInterceptors(
    ::grpc::ServerBuilder* builder,
    std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface> factory);
// Whether `server` has a generic service (ServerBuilder::RegisterAsyncGenericService or
// RegisterCallbackGenericService), which serves the methods no service of its claims; the one
// gRPC adds itself to answer them UNIMPLEMENTED does not count.
bool HasGenericService(::grpc::Server* server);
// Whether the method "/pkg.Service/Method" of `service` is a raw callback method
// (WithRawCallbackMethod_): it takes serialized messages, so the typed direct dispatch of a
// CallbackService cannot call it.
bool IsRawCallbackMethod(::grpc::Service* service, const std::string& path);
// Whether the method "/pkg.Service/Method" of `service` is served as gRPC's unary kind. A
// Foo::Service's unary method made a streamed one (WithStreamedUnaryMethod_, as in
// Foo::StreamedService) is not: gRPC serves it as a stream to a handler that takes a
// ServerUnaryStreamer, and the typed method it replaces aborts the process when called.
bool IsServedAsUnary(::grpc::Service* service, const std::string& path);
// The handler of `service`'s method "/pkg.Service/Method" when it is a callback method (which
// holds the method's message allocator); nullptr otherwise.
::grpc::internal::MethodHandler* CallbackHandlerOf(::grpc::Service* service,
                                                   const std::string& path);

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_SERVER_CONTEXT_ACCESS_H_
