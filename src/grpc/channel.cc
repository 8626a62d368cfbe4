#include "notnets/grpc/channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <unordered_map>

#include "grpc/client_call.h"
#include "grpc/pool_name.h"
#include "notnets/grpc/binding.h"
#include "notnets/pool.h"

namespace notnets::grpc {

namespace {

using Clock = std::chrono::steady_clock;

// How often a channel looks again for a pool or a service that was not there.
constexpr std::chrono::milliseconds kRetryInterval{100};

// Decides, per call, whether it goes through the pool, and counts.
class Router {
 public:
  Router(std::string pool_name, uint32_t max_outstanding_calls, bool has_target,
         internal::MessageLimits limits)
      : pool_name_(std::move(pool_name)),
        max_outstanding_calls_(max_outstanding_calls),
        has_target_(has_target),
        limits_(limits) {}

  ::grpc::experimental::Interceptor* Route(::grpc::experimental::ClientRpcInfo* info) {
    const MethodRoute* route;
    std::shared_ptr<notnets::Channel> channel;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      route = &RouteOf(info->method());
      if (route->method != nullptr) channel = ChannelFor(route->service);
    }
    if (channel != nullptr && channel->Serves(route->method->name)) {
      pool_calls.fetch_add(1, std::memory_order_relaxed);
      return internal::NewPoolCall(info, route->method, std::move(channel), &route->service->peer,
                                   &limits_, ::grpc::Status::OK);
    }
    if (has_target_) {
      http2_calls.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    return internal::NewPoolCall(
        info, nullptr, nullptr, nullptr, &limits_,
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
    Clock::time_point next_attempt;
  };
  struct MethodRoute {
    const internal::MethodBinding* method = nullptr;  // null: not bound, never in the pool
    ServiceRoute* service = nullptr;
  };

  // The route of a stub's method name, remembered by the name's address (a stub's static).
  // Called with mutex_ held.
  const MethodRoute& RouteOf(const char* full_method) {
    auto it = methods_.find(full_method);
    if (it != methods_.end()) return it->second;
    MethodRoute route;
    const internal::ServiceBinding* service = nullptr;
    route.method = internal::FindMethod(full_method, &service);
    if (route.method != nullptr) {
      route.service = &services_[service->name];
      route.service->service = service->name;
    }
    return methods_.emplace(full_method, route).first->second;
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
    if (!notnets::Channel::Connect(pool_, route->service, options, &route->channel).ok()) {
      return nullptr;
    }
    route->peer = "notnets:" + pool_->path() + "/" + route->service;
    return route->channel;
  }

  const std::string pool_name_;
  const uint32_t max_outstanding_calls_;
  const bool has_target_;
  const internal::MessageLimits limits_;
  std::mutex mutex_;
  std::shared_ptr<notnets::Pool> pool_;
  std::unordered_map<const char*, MethodRoute> methods_;
  std::unordered_map<std::string, ServiceRoute> services_;
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
  auto router =
      std::make_shared<Router>(internal::PoolName(options.pool), options.max_outstanding_calls,
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
