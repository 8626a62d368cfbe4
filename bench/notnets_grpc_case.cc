// notnets-grpc-sync, -callback, -cq, -stream and -stream-bidi: echo.proto's gRPC services and
// stubs (see GrpcApi), unchanged, over notnets::grpc. notnets-grpc-bridged is notnets-grpc-sync
// with a server interceptor that only passes calls on: the pool server then bridges every call
// into the grpc::Server through its in-process channel (src/grpc/bridge.h), the path of
// completion-queue services and sync streaming methods, whose cost it measures. The server listens
// on TCP loopback like grpc-http2-tcp and also serves in a fresh pool (ServeOverPool); each client
// is a notnets::grpc::CreateChannel to that address, so that every call picks its path as it would
// in production. If any call went over HTTP/2, the case fails after its calls
// (EchoClient::CheckPath): it measures the pool path or nothing.
#include <grpcpp/grpcpp.h>

#include "case.h"
#include "emergency.h"
#include "grpc_case.h"
#include "grpc_clients.h"
#include "notnets/grpc/channel.h"
#include "notnets/grpc/server.h"
#include "notnets/pool.h"
#include "pool_case.h"
#include "process.h"

namespace notnets::bench {
namespace {

// A gRPC client whose channel counts the calls that went over HTTP/2. The count is read once
// the calls are over, since reading it takes a lock that has no place in a timed call.
class PoolOnlyClient : public EchoClient {
 public:
  PoolOnlyClient(std::shared_ptr<::grpc::Channel> channel, std::unique_ptr<EchoClient> client)
      : channel_(std::move(channel)), client_(std::move(client)) {}

  Status Call() override { return client_->Call(); }
  bool SupportsAsync() const override { return client_->SupportsAsync(); }
  void CallAsync(std::function<void(Status)> done) override { client_->CallAsync(std::move(done)); }

  Status CheckPath() override {
    notnets::grpc::PathCounters paths = notnets::grpc::GetPathCounters(*channel_);
    if (paths.http2_calls == 0 && paths.pool_calls > 0) return Status::OK;
    return Status(StatusCode::FAILED_PRECONDITION,
                  std::to_string(paths.http2_calls) + " of " +
                      std::to_string(paths.http2_calls + paths.pool_calls) +
                      " calls went over HTTP/2 instead of the pool");
  }

 private:
  const std::shared_ptr<::grpc::Channel> channel_;
  const std::unique_ptr<EchoClient> client_;
};

// Lets every call through untouched; its presence alone makes the pool server bridge.
class PassThrough final : public ::grpc::experimental::Interceptor {
 public:
  void Intercept(::grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }
};

class PassThroughFactory final : public ::grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  ::grpc::experimental::Interceptor* CreateServerInterceptor(
      ::grpc::experimental::ServerRpcInfo*) override {
    return new PassThrough();
  }
};

class NotnetsGrpcCase : public PoolCase {
 public:
  // `bridged`: the server has a pass-through interceptor, so every pool call is bridged.
  explicit NotnetsGrpcCase(GrpcApi api, bool bridged = false) : api_(api), bridged_(bridged) {}

  // Announces the TCP address, the path a client would take without the pool.
  Status Serve(const std::vector<std::string>& server_args, const ReadyCallback& ready) override {
    if (server_args.size() != 1) {
      return Status(StatusCode::INVALID_ARGUMENT, "expected the pool's path");
    }
    std::unique_ptr<::grpc::Service> service = MakeEchoService(api_);
    ::grpc::ServerBuilder builder;
    builder.SetMaxReceiveMessageSize(-1);
    builder.SetMaxSendMessageSize(-1);
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", ::grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service.get());
    notnets::grpc::ServerOptions options;
    options.pool = server_args[0];
    notnets::grpc::ServeOverPool(&builder, service.get(), options);
    if (bridged_) {
      std::vector<std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface>>
          factories;
      factories.push_back(std::make_unique<PassThroughFactory>());
      builder.experimental().SetInterceptorCreators(std::move(factories));
    }
    std::unique_ptr<::grpc::Server> server = builder.BuildAndStart();
    if (server == nullptr || port == 0) {
      return Status(StatusCode::UNAVAILABLE, "gRPC server could not listen");
    }
    ready("127.0.0.1:" + std::to_string(port));
    WaitForStopSignal();
    server->Shutdown();
    return Status::OK;
  }

  Status Connect(const std::vector<std::string>& server_args, std::string_view endpoint,
                 const ClientOptions& options, std::unique_ptr<EchoClient>* client) override {
    if (server_args.size() != 1) {
      return Status(StatusCode::INVALID_ARGUMENT, "expected the pool's path");
    }
    notnets::grpc::ChannelOptions channel_options;
    channel_options.pool = server_args[0];
    // The HTTP/2 fallback set up as grpc-http2-tcp's channel, though no call may take it.
    channel_options.arguments.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
    channel_options.arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channel_options.arguments.SetMaxReceiveMessageSize(-1);
    channel_options.arguments.SetMaxSendMessageSize(-1);
    std::shared_ptr<::grpc::Channel> channel =
        notnets::grpc::CreateChannel(std::string(endpoint), channel_options);
    *client = std::make_unique<PoolOnlyClient>(channel,
                                               MakeGrpcClient(api_, channel, options.payload_size));
    return Status::OK;
  }

 private:
  const GrpcApi api_;
  const bool bridged_;
};

const CaseRegistration kSyncRegistration(32, "notnets-grpc-sync", [] {
  return std::make_unique<NotnetsGrpcCase>(GrpcApi::kSync);
});
const CaseRegistration kCallbackRegistration(33, "notnets-grpc-callback", [] {
  return std::make_unique<NotnetsGrpcCase>(GrpcApi::kCallback);
});
const CaseRegistration kCompletionQueueRegistration(34, "notnets-grpc-cq", [] {
  return std::make_unique<NotnetsGrpcCase>(GrpcApi::kCompletionQueue);
});
const CaseRegistration kBridgedRegistration(37, "notnets-grpc-bridged", [] {
  return std::make_unique<NotnetsGrpcCase>(GrpcApi::kSync, true);
});
const CaseRegistration kStreamRegistration(35, "notnets-grpc-stream", [] {
  return std::make_unique<NotnetsGrpcCase>(GrpcApi::kServerStream);
});
const CaseRegistration kBidiRegistration(36, "notnets-grpc-stream-bidi", [] {
  return std::make_unique<NotnetsGrpcCase>(GrpcApi::kBidiStream);
});

}  // namespace
}  // namespace notnets::bench
