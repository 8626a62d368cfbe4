#include "grpc_case.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>

#include "echo.grpc.pb.h"
#include "grpc_clients.h"
#include "grpc_stream_service.h"
#include "process.h"

namespace notnets::bench {
namespace {

// Echo with a synchronous handler, run on gRPC's thread pool.
class SyncEchoService final : public EchoService::Service {
  grpc::Status Echo(grpc::ServerContext*, const EchoRequest* request, EchoReply* reply) override {
    reply->set_payload(request->payload());
    return grpc::Status::OK;
  }
};

// Echo with the callback API: the handler finishes its default reactor at once.
class CallbackEchoService final : public EchoService::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context, const EchoRequest* request,
                                 EchoReply* reply) override {
    reply->set_payload(request->payload());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

std::unique_ptr<grpc::Service> MakeEchoService(GrpcApi api) {
  switch (api) {
    case GrpcApi::kSync:
    case GrpcApi::kCompletionQueue:
      return std::make_unique<SyncEchoService>();
    case GrpcApi::kCallback:
      return std::make_unique<CallbackEchoService>();
    case GrpcApi::kServerStream:
    case GrpcApi::kBidiStream:
      break;
  }
  return MakeStreamService();
}

GrpcCase::~GrpcCase() {
  if (!socket_path_.empty()) unlink(socket_path_.c_str());
}

Status GrpcCase::Setup(const CaseOptions&, std::vector<std::string>* server_args) {
  if (transport_ == GrpcTransport::kUnixSocket) {
    socket_path_ = "/tmp/notnets-bench-grpc-" + std::to_string(getpid()) + ".sock";
    unlink(socket_path_.c_str());
    unlink_on_emergency_ = std::make_unique<EmergencyUnlink>(socket_path_);
    server_args->push_back(socket_path_);
  }
  return Status::OK;
}

Status GrpcCase::Serve(const std::vector<std::string>& server_args, const ReadyCallback& ready) {
  std::unique_ptr<grpc::Service> service = MakeEchoService(api_);
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(-1);
  builder.SetMaxSendMessageSize(-1);
  int port = 0;
  std::string endpoint;
  if (transport_ == GrpcTransport::kTcp) {
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  } else {
    if (server_args.size() != 1) {
      return Status(StatusCode::INVALID_ARGUMENT, "expected the socket's path");
    }
    endpoint = "unix:" + server_args[0];
    builder.AddListeningPort(endpoint, grpc::InsecureServerCredentials(), &port);
  }
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Status(StatusCode::UNAVAILABLE, "gRPC server could not listen");
  }
  if (transport_ == GrpcTransport::kTcp) endpoint = "127.0.0.1:" + std::to_string(port);
  ready(endpoint);
  WaitForStopSignal();
  server->Shutdown();
  return Status::OK;
}

Status GrpcCase::Connect(const std::vector<std::string>&, std::string_view endpoint,
                         const ClientOptions& options, std::unique_ptr<EchoClient>* client) {
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);  // Loopback, whatever http_proxy says.
  // A connection of its own for each client, as separate client processes would have.
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  arguments.SetMaxReceiveMessageSize(-1);
  arguments.SetMaxSendMessageSize(-1);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      std::string(endpoint), grpc::InsecureChannelCredentials(), arguments);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    return Status(StatusCode::UNAVAILABLE,
                  "gRPC channel to " + std::string(endpoint) + " not connected within 10 s");
  }
  *client = MakeGrpcClient(api_, channel, options.payload_size);
  return Status::OK;
}

namespace {

const CaseRegistration kTcp(40, "grpc-http2-tcp", [] {
  return std::make_unique<GrpcCase>(GrpcTransport::kTcp, GrpcApi::kSync);
});
const CaseRegistration kUds(41, "grpc-http2-uds", [] {
  return std::make_unique<GrpcCase>(GrpcTransport::kUnixSocket, GrpcApi::kSync);
});
const CaseRegistration kTcpCallback(42, "grpc-http2-tcp-callback", [] {
  return std::make_unique<GrpcCase>(GrpcTransport::kTcp, GrpcApi::kCallback);
});
const CaseRegistration kUdsCallback(43, "grpc-http2-uds-callback", [] {
  return std::make_unique<GrpcCase>(GrpcTransport::kUnixSocket, GrpcApi::kCallback);
});
const CaseRegistration kTcpStream(44, "grpc-http2-tcp-stream", [] {
  return std::make_unique<GrpcCase>(GrpcTransport::kTcp, GrpcApi::kServerStream);
});
const CaseRegistration kTcpBidi(45, "grpc-http2-tcp-stream-bidi", [] {
  return std::make_unique<GrpcCase>(GrpcTransport::kTcp, GrpcApi::kBidiStream);
});

}  // namespace
}  // namespace notnets::bench
