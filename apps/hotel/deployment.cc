#include "deployment.h"

#include "notnets/grpc/channel.h"
#include "notnets/grpc/server.h"

namespace hotel {
namespace {

constexpr const char* kNames[kServiceCount] = {"frontend", "search",         "geo",  "rate",
                                               "profile",  "recommendation", "user", "reservation"};

std::string AddressOf(const Deployment& deployment, ServiceId id) {
  return "127.0.0.1:" + std::to_string(deployment.port_base + static_cast<int>(id));
}

}  // namespace

const char* NameOf(ServiceId id) { return kNames[static_cast<int>(id)]; }

bool ParseServiceId(const std::string& name, ServiceId* id) {
  for (int i = 0; i < kServiceCount; ++i) {
    if (name == kNames[i]) {
      *id = static_cast<ServiceId>(i);
      return true;
    }
  }
  return false;
}

std::shared_ptr<grpc::Channel> Connect(const Deployment& deployment, ServiceId id) {
  if (!deployment.over_pool) {
    return grpc::CreateChannel(AddressOf(deployment, id), grpc::InsecureChannelCredentials());
  }
  notnets::grpc::ChannelOptions options;
  options.pool = deployment.pool;
  options.max_outstanding_calls = deployment.max_outstanding_calls;
  // No HTTP/2 target: a call whose service is not in the pool fails instead of leaving it.
  return notnets::grpc::CreateChannel("", options);
}

std::unique_ptr<grpc::Server> Serve(const Deployment& deployment, ServiceId id,
                                    grpc::Service* service, int threads) {
  grpc::ServerBuilder builder;
  builder.RegisterService(service);
  if (deployment.over_pool) {
    notnets::grpc::ServerOptions options;
    options.pool = deployment.pool;
    options.pool_size_bytes = uint64_t{256} << 20;
    options.worker_threads = threads;
    notnets::grpc::ServeOverPool(&builder, service, options);
  } else {
    builder.AddListeningPort(AddressOf(deployment, id), grpc::InsecureServerCredentials());
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, threads);
  }
  return builder.BuildAndStart();
}

}  // namespace hotel
