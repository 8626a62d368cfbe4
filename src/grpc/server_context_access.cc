#include "grpc/server_context_access.h"

#include <grpc/support/time.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/version_info.h>

#include <atomic>
#include <memory>
#include <thread>
#include <utility>

static_assert(
    GRPC_CPP_VERSION_MAJOR == 1 && GRPC_CPP_VERSION_MINOR == 51,
    "server_context_access.cc reaches private members of grpc::ServerContextBase and "
    "grpc::ClientContext, grpc::ServerInitializer, grpc::Server and grpc::Service as laid "
    "out in gRPC "
    "1.51; check them against this gRPC version");

namespace notnets::grpc::internal {

namespace {

using ::grpc::ClientContext;
using ::grpc::ServerContextBase;

// Member<Tag>::pointer is a pointer to the private member named at its explicit instantiation.
template <class Tag>
struct Member {
  static typename Tag::type pointer;
};
template <class Tag>
typename Tag::type Member<Tag>::pointer;

template <class Tag, typename Tag::type kPointer>
struct Expose {
  Expose() { Member<Tag>::pointer = kPointer; }
  static Expose instance;
};
template <class Tag, typename Tag::type kPointer>
Expose<Tag, kPointer> Expose<Tag, kPointer>::instance;

struct Deadline {
  using type = gpr_timespec ServerContextBase::*;
};
struct ClientMetadata {
  using type = ::grpc::internal::MetadataMap ServerContextBase::*;
};
struct Initial {
  using type = std::multimap<std::string, std::string> ServerContextBase::*;
};
struct Trailing {
  using type = std::multimap<std::string, std::string> ServerContextBase::*;
};
struct Cancelled {
  using type = std::atomic_bool ServerContextBase::*;
};
struct CallSetter {
  using type = void (ServerContextBase::*)(grpc_call*);
};
struct RpcInfoSetter {
  using type = ::grpc::experimental::ServerRpcInfo* (
      ServerContextBase::*)(const char*, ::grpc::internal::RpcMethod::RpcType,
                            const ServerInterceptorFactories&);
};
struct AllocatorStateSetter {
  using type = void (ServerContextBase::*)(::grpc::RpcAllocatorState*);
};
struct AuthContextMember {
  using type = std::shared_ptr<const ::grpc::AuthContext> ServerContextBase::*;
};
struct ClientAuthContextMember {
  using type = std::shared_ptr<const ::grpc::AuthContext> ClientContext::*;
};
struct SendInitial {
  using type = std::multimap<std::string, std::string> ClientContext::*;
};

template struct Expose<Deadline, &ServerContextBase::deadline_>;
template struct Expose<ClientMetadata, &ServerContextBase::client_metadata_>;
template struct Expose<Initial, &ServerContextBase::initial_metadata_>;
template struct Expose<Trailing, &ServerContextBase::trailing_metadata_>;
template struct Expose<Cancelled, &ServerContextBase::marked_cancelled_>;
template struct Expose<CallSetter, &ServerContextBase::set_call>;
template struct Expose<RpcInfoSetter, &ServerContextBase::set_server_rpc_info>;
template struct Expose<SendInitial, &ClientContext::send_initial_metadata_>;
template struct Expose<AuthContextMember, &ServerContextBase::auth_context_>;
template struct Expose<ClientAuthContextMember, &ClientContext::auth_context_>;
template struct Expose<AllocatorStateSetter, &ServerContextBase::set_message_allocator_state>;
struct ClientCall {
  using type = grpc_call* ClientContext::*;
};
template struct Expose<ClientCall, &ClientContext::call_>;
struct PropagateFrom {
  using type = grpc_call* ClientContext::*;
};
struct Propagation {
  using type = ::grpc::PropagationOptions ClientContext::*;
};
template struct Expose<PropagateFrom, &ClientContext::propagate_from_call_>;
template struct Expose<Propagation, &ClientContext::propagation_options_>;
struct ServerRpcInfoMember {
  using type = ::grpc::experimental::ServerRpcInfo* ServerContextBase::*;
};
using ServerRpcInfo = ::grpc::experimental::ServerRpcInfo;
struct ServerInterceptors {
  using type = std::vector<std::unique_ptr<::grpc::experimental::Interceptor>> ServerRpcInfo::*;
};
template struct Expose<ServerRpcInfoMember, &ServerContextBase::rpc_info_>;
template struct Expose<ServerInterceptors, &ServerRpcInfo::interceptors_>;

struct InitializedServer {
  using type = ::grpc::Server* ::grpc::ServerInitializer::*;
};
using GrpcServer = ::grpc::Server;
struct InterceptorCreators {
  using type = ServerInterceptorFactories GrpcServer::*;
};

template struct Expose<InitializedServer, &::grpc::ServerInitializer::server_>;

// ServerBuilder::services_ holds a private type: the member's type is deduced, never named.
struct BuilderServices {
  friend auto ServicesMember(BuilderServices);
};
template <auto kPointer>
struct ExposeServices {
  friend auto ServicesMember(BuilderServices) { return kPointer; }
};
template struct ExposeServices<&::grpc::ServerBuilder::services_>;
template struct Expose<InterceptorCreators, &::grpc::Server::interceptor_creators_>;
using GrpcServerBuilder = ::grpc::ServerBuilder;
struct BuilderInterceptorCreators {
  using type = ServerInterceptorFactories GrpcServerBuilder::*;
};
template struct Expose<BuilderInterceptorCreators, &::grpc::ServerBuilder::interceptor_creators_>;

struct ServerRef {
  using type = void (GrpcServer::*)();
};
struct ServerUnref {
  using type = void (GrpcServer::*)();
};
template struct Expose<ServerRef, &::grpc::Server::Ref>;
struct ServerMutex {
  using type = ::grpc::internal::Mutex GrpcServer::*;
};
struct ServerShutdown {
  using type = bool GrpcServer::*;
};
struct AsyncGeneric {
  using type = bool GrpcServer::*;
};
struct CallbackGeneric {
  using type = bool GrpcServer::*;
};
struct UnimplementedService {
  using type = std::unique_ptr<::grpc::CallbackGenericService> GrpcServer::*;
};
template struct Expose<AsyncGeneric, &::grpc::Server::has_async_generic_service_>;
template struct Expose<CallbackGeneric, &::grpc::Server::has_callback_generic_service_>;
template struct Expose<UnimplementedService, &::grpc::Server::unimplemented_service_>;
template struct Expose<ServerMutex, &::grpc::Server::mu_>;
template struct Expose<ServerShutdown, &::grpc::Server::shutdown_>;
template struct Expose<ServerUnref, &::grpc::Server::UnrefWithPossibleNotify>;

using ServiceMethodList = std::vector<std::unique_ptr<::grpc::internal::RpcServiceMethod>>;
using GrpcService = ::grpc::Service;
struct ServiceMethods {
  using type = ServiceMethodList GrpcService::*;
};
template struct Expose<ServiceMethods, &::grpc::Service::methods_>;

}  // namespace

void SetDeadline(ServerContextBase* context, std::chrono::steady_clock::time_point deadline) {
  if (deadline == std::chrono::steady_clock::time_point::max()) {
    context->*Member<Deadline>::pointer = gpr_inf_future(GPR_CLOCK_REALTIME);
    return;
  }
  auto remaining = std::chrono::duration_cast<std::chrono::nanoseconds>(
      deadline - std::chrono::steady_clock::now());
  context->*Member<Deadline>::pointer =
      gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                   gpr_time_from_nanos(std::max<int64_t>(remaining.count(), 0), GPR_TIMESPAN));
}

void SetClientMetadata(ServerContextBase* context, const Metadata& metadata) {
  std::multimap<::grpc::string_ref, ::grpc::string_ref>* map =
      (context->*Member<ClientMetadata>::pointer).map();
  map->clear();
  for (const auto& [key, value] : metadata) {
    map->emplace(::grpc::string_ref(key.data(), key.size()),
                 ::grpc::string_ref(value.data(), value.size()));
  }
}

void SetCall(ServerContextBase* context, grpc_call* call) {
  (context->*Member<CallSetter>::pointer)(call);
}

void SetServerRpcInfo(ServerContextBase* context, const char* method,
                      ::grpc::internal::RpcMethod::RpcType type,
                      const ServerInterceptorFactories& factories) {
  (context->*Member<RpcInfoSetter>::pointer)(method, type, factories);
}

void SetAuthContext(ServerContextBase* context, std::shared_ptr<const ::grpc::AuthContext> auth) {
  context->*Member<AuthContextMember>::pointer = std::move(auth);
}

void SetAuthContext(ClientContext* context, std::shared_ptr<const ::grpc::AuthContext> auth) {
  context->*Member<ClientAuthContextMember>::pointer = std::move(auth);
}

void MarkCancelled(ServerContextBase* context) {
  (context->*Member<Cancelled>::pointer).store(true, std::memory_order_release);
}

const std::multimap<std::string, std::string>& InitialMetadata(const ServerContextBase& context) {
  return context.*Member<Initial>::pointer;
}

const std::multimap<std::string, std::string>& TrailingMetadata(const ServerContextBase& context) {
  return context.*Member<Trailing>::pointer;
}

const std::multimap<std::string, std::string>& SendInitialMetadata(
    const ::grpc::ClientContext& context) {
  return context.*Member<SendInitial>::pointer;
}

}  // namespace notnets::grpc::internal

namespace notnets::grpc::internal {

::grpc::Server* ServerOf(::grpc::ServerInitializer* initializer) {
  return initializer->*Member<InitializedServer>::pointer;
}

std::vector<::grpc::Service*> ServicesOf(::grpc::ServerBuilder* builder) {
  std::vector<::grpc::Service*> services;
  for (const auto& named : builder->*ServicesMember(BuilderServices{})) {
    services.push_back(named->service);
  }
  return services;
}

void RefServer(::grpc::Server* server) { (server->*Member<ServerRef>::pointer)(); }

void UnrefServer(::grpc::Server* server) { (server->*Member<ServerUnref>::pointer)(); }

bool RunWhileServing(::grpc::Server* server, const std::function<bool()>& give_up,
                     const std::function<void()>& start) {
  ::grpc::internal::Mutex& mutex = server->*Member<ServerMutex>::pointer;
  while (!mutex.TryLock()) {
    // Held for long only while the server shuts down, which `give_up` learns of.
    if (give_up()) return false;
    std::this_thread::yield();
  }
  bool serving = !(server->*Member<ServerShutdown>::pointer);
  if (serving) start();
  mutex.Unlock();
  return serving;
}

const ServerInterceptorFactories& InterceptorFactoriesOf(::grpc::Server* server) {
  return server->*Member<InterceptorCreators>::pointer;
}

void AppendInterceptors(
    ::grpc::ServerBuilder* builder,
    std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface> factory) {
  (builder->*Member<BuilderInterceptorCreators>::pointer).push_back(std::move(factory));
}

grpc_call* ReplaceCall(ClientContext* context, grpc_call* call) {
  return std::exchange(context->*Member<ClientCall>::pointer, call);
}

void SetPropagation(ClientContext* context, grpc_call* parent, ::grpc::PropagationOptions options) {
  context->*Member<PropagateFrom>::pointer = parent;
  context->*Member<Propagation>::pointer = options;
}

const std::vector<std::unique_ptr<::grpc::experimental::Interceptor>>* ServerInterceptorsOf(
    const ServerContextBase& context) {
  const ServerRpcInfo* info = context.*Member<ServerRpcInfoMember>::pointer;
  return info == nullptr ? nullptr : &(info->*Member<ServerInterceptors>::pointer);
}

bool HasGenericService(::grpc::Server* server) {
  // gRPC 1.51 gives a server with callback methods a callback generic service of its own, which
  // answers UNIMPLEMENTED to every method the server does not have: that one serves nothing.
  return server->*Member<AsyncGeneric>::pointer ||
         (server->*Member<CallbackGeneric>::pointer &&
          server->*Member<UnimplementedService>::pointer == nullptr);
}

bool IsRawCallbackMethod(::grpc::Service* service, const std::string& path) {
  for (const auto& method : service->*Member<ServiceMethods>::pointer) {
    // A generic method's entry is null.
    if (method != nullptr && path == method->name()) {
      return method->api_type() == ::grpc::internal::RpcServiceMethod::ApiType::RAW_CALL_BACK;
    }
  }
  return false;
}

bool IsServedAsUnary(::grpc::Service* service, const std::string& path) {
  for (const auto& method : service->*Member<ServiceMethods>::pointer) {
    if (method != nullptr && path == method->name()) {
      return method->method_type() == ::grpc::internal::RpcMethod::NORMAL_RPC;
    }
  }
  return false;
}

::grpc::internal::MethodHandler* CallbackHandlerOf(::grpc::Service* service,
                                                   const std::string& path) {
  for (const auto& method : service->*Member<ServiceMethods>::pointer) {
    if (method != nullptr && path == method->name()) {
      return method->api_type() == ::grpc::internal::RpcServiceMethod::ApiType::CALL_BACK
                 ? method->handler()
                 : nullptr;
    }
  }
  return nullptr;
}

void SetAllocatorState(ServerContextBase* context, ::grpc::RpcAllocatorState* state) {
  (context->*Member<AllocatorStateSetter>::pointer)(state);
}

}  // namespace notnets::grpc::internal
