#include "notnets/grpc/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <link.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "grpc/client_call.h"
#include "grpc/pool_name.h"
#include "grpc/server_auth_contexts.h"
#include "grpc/wire.h"
#include "notnets/grpc/binding.h"
#include "notnets/pool.h"
#include "rpc/cpu_affinity.h"

namespace notnets::grpc {

namespace {

using Clock = std::chrono::steady_clock;

// How often a channel looks again for a pool or a service that was not there.
constexpr std::chrono::milliseconds kRetryInterval{100};

// True if `address` is in a loaded object's read-only memory, where string literals are.
bool InReadOnlyMemory(const void* address) {
  struct Search {
    uintptr_t address;
    bool read_only = false;
  } search{reinterpret_cast<uintptr_t>(address)};
  dl_iterate_phdr(
      [](dl_phdr_info* object, size_t, void* data) {
        auto* search = static_cast<Search*>(data);
        for (int i = 0; i < object->dlpi_phnum; ++i) {
          const ElfW(Phdr)& segment = object->dlpi_phdr[i];
          uintptr_t start = object->dlpi_addr + segment.p_vaddr;
          if (segment.p_type != PT_LOAD || search->address < start ||
              search->address - start >= segment.p_memsz) {
            continue;
          }
          search->read_only = (segment.p_flags & PF_W) == 0;
          return 1;
        }
        return 0;
      },
      &search);
  return search.read_only;
}

// The method of a generic stub's call of kind `type`: its messages are grpc::ByteBuffers (no
// message types); null for a kind gRPC does not say.
const internal::MethodBinding* RawMethod(::grpc::experimental::ClientRpcInfo::Type type) {
  using Type = ::grpc::experimental::ClientRpcInfo::Type;
  static const auto* methods = [] {
    auto* made = new std::array<internal::MethodBinding, 4>();
    const RpcKind kinds[] = {RpcKind::kUnary, RpcKind::kClientStreaming, RpcKind::kServerStreaming,
                             RpcKind::kBidiStreaming};
    for (size_t i = 0; i < made->size(); ++i) (*made)[i].kind = kinds[i];
    return made;
  }();
  switch (type) {
    case Type::UNARY:
      return &(*methods)[0];
    case Type::CLIENT_STREAMING:
      return &(*methods)[1];
    case Type::SERVER_STREAMING:
      return &(*methods)[2];
    case Type::BIDI_STREAMING:
      return &(*methods)[3];
    case Type::UNKNOWN:
      break;
  }
  return nullptr;
}

// OK if this process may run on every CPU of `cpus`; else why the calls of a channel with them
// as its completion CPUs fail.
::grpc::Status CheckCompletionCpus(const std::vector<int>& cpus) {
  notnets::Status status = notnets::internal::CheckCpus(cpus, "completion");
  return ::grpc::Status(static_cast<::grpc::StatusCode>(status.error_code()),
                        status.error_message());
}

// Decides, per call, whether it goes through the pool, and counts.
class Router {
 public:
  Router(std::string pool_name, uint32_t max_outstanding_calls, std::vector<int> completion_cpus,
         bool has_target, internal::MessageLimits limits)
      : pool_name_(std::move(pool_name)),
        max_outstanding_calls_(max_outstanding_calls),
        completion_cpus_(std::move(completion_cpus)),
        has_target_(has_target),
        limits_(limits),
        refused_(CheckCompletionCpus(completion_cpus_)) {}

  ::grpc::experimental::Interceptor* Route(::grpc::experimental::ClientRpcInfo* info) {
    // Options the pool cannot honour fail every call, as gRPC's channels with bad arguments do,
    // rather than sending calls meant for the pool over HTTP/2 unnoticed.
    if (!refused_.ok()) {
      return internal::NewPoolCall(info, nullptr, std::string(), nullptr, nullptr, nullptr, nullptr,
                                   &limits_, refused_);
    }
    // Call credentials make their metadata (a token, say) only inside gRPC's HTTP/2 transport,
    // whose security they need, and which the pool path has no part in: such a call goes over
    // HTTP/2, where gRPC applies them or, on a channel without transport security, refuses them.
    if (info->client_context()->credentials() != nullptr) {
      if (has_target_) {
        http2_calls.fetch_add(1, std::memory_order_relaxed);
        return nullptr;
      }
      return internal::NewPoolCall(
          info, nullptr, std::string(), nullptr, nullptr, nullptr, nullptr, &limits_,
          ::grpc::Status(::grpc::StatusCode::UNAUTHENTICATED,
                         "Established channel does not have a sufficient security level to "
                         "transfer call credential. (The pool does not carry call credentials "
                         "(ClientContext::set_credentials): give the channel an HTTP/2 target "
                         "with transport security, or send what they carry as metadata.)"));
    }
    const char* name = info->method();
    MethodRoute route;
    bool known = false;
    std::shared_ptr<notnets::Channel> channel;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (auto it = methods_.find(name); it != methods_.end()) {
        route = it->second;
        known = true;
        if (route.method != nullptr) channel = ChannelFor(route.service);
      }
    }
    // Only a name in read-only program memory is a generated stub's, which lives as long as the
    // program and is its method's alone. Any other (a generic stub's std::string) may be gone
    // after the call, its address reused for another name, and its message types are not the
    // binding's: it goes by full name, as bytes.
    bool typed = known || InReadOnlyMemory(name);
    if (!known && typed) {
      std::lock_guard<std::mutex> lock(mutex_);
      route = methods_.emplace(name, RouteOf(name)).first->second;
      if (route.method != nullptr) channel = ChannelFor(route.service);
    }
    if (!typed) {
      // A generic stub's call of a bound method of the same kind goes to it as a typed stub's
      // would, with the messages as bytes.
      route = RawRouteOf(name, RawMethod(info->type()), &channel);
    }
    if (channel != nullptr && channel->Serves(route.method->name)) {
      pool_calls.fetch_add(1, std::memory_order_relaxed);
      return internal::NewPoolCall(info, route.method, std::string(), std::move(channel),
                                   &route.service->peer, route.service->stand_in.get(),
                                   route.service->server_auth.get(), &limits_, ::grpc::Status::OK);
    }
    // The method's service is in the pool but cannot take the call as it comes: a generic stub's
    // stream of a method that is not bidi (gRPC carries any stream), a method the binding lacks
    // (or the server's does). Its server takes it by full name, and gRPC there serves it.
    const internal::MethodBinding* method = typed ? route.method : RawMethod(info->type());
    if (auto* call = RouteToOwnService(info, method)) return call;
    // A server that serves the method by full name only: a generic service, a service it has
    // no binding for, or one a typed stub reaches with the binding this program links.
    if (auto* call = RouteByName(&by_name_, info, method)) return call;
    if (has_target_) {
      http2_calls.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    // With no target, the pool is where the channel points: when a server there serves every
    // service it has, a method none of them has gets gRPC's own answer, as over HTTP/2. Not a
    // service this channel has reached in the pool before, nor one registered in the pool
    // before: its server is away (restarting, or dead), which is UNAVAILABLE, as a target's
    // absent server is over HTTP/2.
    if (channel == nullptr && !WasRegistered(info->method())) {
      if (auto* call = RouteByName(&unimplemented_, info, method)) return call;
    }
    return internal::NewPoolCall(
        info, nullptr, std::string(), nullptr, nullptr, nullptr, nullptr, &limits_,
        ::grpc::Status(::grpc::StatusCode::UNAVAILABLE,
                       std::string("no server in pool '") + pool_name_ + "' serves " +
                           info->method() +
                           ", and this channel has no HTTP/2 target to try instead; start a "
                           "server with notnets::grpc::ServeOverPool or give CreateChannel a "
                           "target"));
  }

  std::atomic<uint64_t> pool_calls{0};
  std::atomic<uint64_t> http2_calls{0};

 private:
  // A service's connection, made on its first call (and retried at most every kRetryInterval
  // while it fails). Once made it stays: notnets::Channel follows the service's servers itself.
  struct ServiceRoute {
    std::string service;
    std::shared_ptr<notnets::Channel> channel;
    std::string peer;
    // Lent to the contexts of its calls, so that their peer() is `peer`.
    std::unique_ptr<internal::StandInCall> stand_in;
    Clock::time_point next_attempt;
    // What the contexts of its calls show as auth_context() once a server answered.
    std::unique_ptr<internal::ServerAuthContexts> server_auth;
  };
  struct MethodRoute {
    // Null: no binding linked; a typed stub of it never goes through the pool.
    const internal::MethodBinding* method = nullptr;
    ServiceRoute* service = nullptr;
  };

  // The call by full name to `route`'s pool service, with `method`'s kind and message types, if a
  // live server there serves calls by name; else null.
  ::grpc::experimental::Interceptor* RouteByName(ServiceRoute* route,
                                                 ::grpc::experimental::ClientRpcInfo* info,
                                                 const internal::MethodBinding* method) {
    const char* name = info->method();
    if (method == nullptr || std::strlen(name) > internal::kMaxPathBytes) return nullptr;
    std::shared_ptr<notnets::Channel> channel;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      channel = ChannelFor(route);
    }
    if (channel == nullptr || !channel->Serves(internal::kGenericUnaryMethod)) return nullptr;
    pool_calls.fetch_add(1, std::memory_order_relaxed);
    return internal::NewPoolCall(info, method, name, std::move(channel), &route->peer,
                                 route->stand_in.get(), route->server_auth.get(), &limits_,
                                 ::grpc::Status::OK);
  }

  // The route of a stub's method name, remembered by the name's address (a stub's static).
  // Called with mutex_ held.
  MethodRoute RouteOf(const char* full_method) {
    MethodRoute route;
    const internal::ServiceBinding* service = nullptr;
    route.method = internal::FindMethod(full_method, &service);
    if (route.method != nullptr) {
      route.service = &services_[service->name];
      route.service->service = service->name;
    }
    return route;
  }

  // The route of a generic stub's call of kind `raw` (null: unknown) to `full_method`, when it
  // is a bound method of that kind, and the channel to its service (null if none).
  MethodRoute RawRouteOf(const char* full_method, const internal::MethodBinding* raw,
                         std::shared_ptr<notnets::Channel>* channel) {
    const internal::ServiceBinding* service = nullptr;
    const internal::MethodBinding* bound = internal::FindMethod(full_method, &service);
    if (raw == nullptr || bound == nullptr || bound->kind != raw->kind) return MethodRoute();
    std::lock_guard<std::mutex> lock(mutex_);
    MethodRoute route;
    auto [it, made] = raw_methods_.try_emplace(bound);
    if (made) {
      it->second.name = bound->name;
      it->second.kind = bound->kind;
    }
    route.method = &it->second;
    route.service = &services_[service->name];
    route.service->service = service->name;
    *channel = ChannelFor(route.service);
    return route;
  }

  // Whether the service of `full_method` ("/pkg.Service/Method") has a name in the pool: a server
  // of it registered there once.
  bool WasRegistered(std::string_view full_method) {
    size_t end = full_method.rfind('/');
    if (full_method.empty() || full_method[0] != '/' || end == 0 || end == std::string_view::npos) {
      return false;
    }
    std::shared_ptr<notnets::Pool> pool;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (pool_ == nullptr && !notnets::Pool::Attach(pool_name_, &pool_).ok()) return false;
      pool = pool_;
    }
    return pool->HasServiceName(full_method.substr(1, end - 1));
  }

  // The call by full name to the pool service of `info`'s service, whose binding this program
  // links, with `method`'s kind and message types, if a live server there takes calls by name;
  // else null.
  ::grpc::experimental::Interceptor* RouteToOwnService(::grpc::experimental::ClientRpcInfo* info,
                                                       const internal::MethodBinding* method) {
    std::string_view path(info->method());
    size_t end = path.rfind('/');
    if (path.empty() || path[0] != '/' || end == 0 || end == std::string_view::npos) {
      return nullptr;
    }
    const internal::ServiceBinding* service = internal::FindBindingByName(path.substr(1, end - 1));
    if (service == nullptr) return nullptr;
    ServiceRoute* route;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      route = &services_[service->name];
      route->service = service->name;
    }
    return RouteByName(route, info, method);
  }

  // Called with mutex_ held.
  std::shared_ptr<notnets::Channel> ChannelFor(ServiceRoute* route) {
    if (route->channel != nullptr) return route->channel;
    auto now = Clock::now();
    if (now < route->next_attempt) return nullptr;
    route->next_attempt = now + kRetryInterval;
    if (pool_ == nullptr && !notnets::Pool::Attach(pool_name_, &pool_).ok()) return nullptr;
    notnets::ChannelOptions options;
    options.max_outstanding_calls = max_outstanding_calls_;
    options.completion_cpus = completion_cpus_;
    if (!notnets::Channel::Connect(pool_, route->service, options, &route->channel).ok()) {
      return nullptr;
    }
    route->peer = "notnets:" + pool_->path() + "/" + route->service;
    route->stand_in = std::make_unique<internal::StandInCall>(route->peer);
    route->server_auth = std::make_unique<internal::ServerAuthContexts>();
    return route->channel;
  }

  const std::string pool_name_;
  const uint32_t max_outstanding_calls_;
  const std::vector<int> completion_cpus_;
  const bool has_target_;
  const internal::MessageLimits limits_;
  const ::grpc::Status refused_;  // OK unless the options are ones the pool cannot honour
  std::mutex mutex_;
  std::shared_ptr<notnets::Pool> pool_;
  std::unordered_map<const char*, MethodRoute> methods_;
  std::unordered_map<std::string, ServiceRoute> services_;
  // Bound methods as generic stubs call them: no message types.
  std::unordered_map<const internal::MethodBinding*, internal::MethodBinding> raw_methods_;
  ServiceRoute by_name_{internal::kGenericService, nullptr, std::string(), nullptr,
                        Clock::time_point(),       nullptr};
  ServiceRoute unimplemented_{internal::kUnimplementedService,
                              nullptr,
                              std::string(),
                              nullptr,
                              Clock::time_point(),
                              nullptr};
};

// The channels CreateChannel made, for GetPathCounters.
struct Channels {
  std::mutex mutex;
  std::unordered_map<const ::grpc::Channel*, std::weak_ptr<Router>> routers;
};

Channels& TheChannels() {
  static Channels* channels = new Channels();
  return *channels;
}

class RouterFactory final : public ::grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit RouterFactory(std::shared_ptr<Router> router) : router_(std::move(router)) {}
  ~RouterFactory() override {
    Channels& channels = TheChannels();
    std::lock_guard<std::mutex> lock(channels.mutex);
    for (auto it = channels.routers.begin(); it != channels.routers.end();) {
      it = it->second.expired() || it->second.lock() == router_ ? channels.routers.erase(it)
                                                                : std::next(it);
    }
  }
  ::grpc::experimental::Interceptor* CreateClientInterceptor(
      ::grpc::experimental::ClientRpcInfo* info) override {
    return router_->Route(info);
  }

 private:
  std::shared_ptr<Router> router_;
};

}  // namespace

std::shared_ptr<::grpc::Channel> CreateChannel(const std::string& target,
                                               const ChannelOptions& options) {
  return CreateChannel(target, options, InterceptorFactories());
}

std::shared_ptr<::grpc::Channel> CreateChannel(const std::string& target,
                                               const ChannelOptions& options,
                                               InterceptorFactories interceptors) {
  auto router = std::make_shared<Router>(internal::PoolName(options.pool),
                                         options.max_outstanding_calls, options.completion_cpus,
                                         !target.empty(), internal::LimitsOf(options.arguments));
  // The router comes last: gRPC runs the interceptors before a hijacking one on every hook point
  // on the way down and up, and none after it.
  InterceptorFactories factories = std::move(interceptors);
  factories.push_back(std::make_unique<RouterFactory>(router));
  std::shared_ptr<::grpc::ChannelCredentials> credentials =
      options.credentials != nullptr ? options.credentials : ::grpc::InsecureChannelCredentials();
  // Calls that go through the pool never use the HTTP/2 channel; with no target it is a
  // placeholder that is never connected.
  std::shared_ptr<::grpc::Channel> channel =
      ::grpc::experimental::CreateCustomChannelWithInterceptors(
          target.empty() ? std::string("unix:/nonexistent-notnets-placeholder") : target,
          credentials, options.arguments, std::move(factories));
  Channels& channels = TheChannels();
  std::lock_guard<std::mutex> lock(channels.mutex);
  channels.routers[channel.get()] = router;
  return channel;
}

PathCounters GetPathCounters(const ::grpc::Channel& channel) {
  Channels& channels = TheChannels();
  std::shared_ptr<Router> router;
  {
    std::lock_guard<std::mutex> lock(channels.mutex);
    auto it = channels.routers.find(&channel);
    if (it != channels.routers.end()) router = it->second.lock();
  }
  PathCounters counters;
  if (router != nullptr) {
    counters.pool_calls = router->pool_calls.load(std::memory_order_relaxed);
    counters.http2_calls = router->http2_calls.load(std::memory_order_relaxed);
  }
  return counters;
}

}  // namespace notnets::grpc
