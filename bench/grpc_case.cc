// grpc-http2-tcp: gRPC's synchronous unary echo over HTTP/2 on TCP loopback, the baseline the
// notnets cases are compared with. A sync server and a blocking stub, as most gRPC services use.
#include <grpcpp/grpcpp.h>

#include <chrono>

#include "case.h"
#include "echo.grpc.pb.h"
#include "process.h"

namespace notnets::bench {
namespace {

class EchoServiceImpl final : public EchoService::Service {
  grpc::Status Echo(grpc::ServerContext*, const EchoRequest* request, EchoReply* reply) override {
    reply->set_payload(request->payload());
    return grpc::Status::OK;
  }
};

class GrpcClient : public EchoClient {
 public:
  explicit GrpcClient(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(EchoService::NewStub(channel)) {
    request_.set_payload(std::string(kEchoPayload));
  }

  Status Call() override {
    grpc::ClientContext context;
    EchoReply reply;
    grpc::Status status = stub_->Echo(&context, request_, &reply);
    if (!status.ok()) {
      return Status(static_cast<StatusCode>(status.error_code()), status.error_message());
    }
    if (reply.payload() != kEchoPayload) {
      return Status(StatusCode::DATA_LOSS, "reply differs from the request");
    }
    return Status::OK;
  }

 private:
  std::unique_ptr<EchoService::Stub> stub_;
  EchoRequest request_;
};

class GrpcTcpCase : public Case {
 public:
  Status Setup(const CaseOptions&, std::vector<std::string>*) override { return Status::OK; }

  // Announces the address to dial: 127.0.0.1 and the port the kernel picked.
  Status Serve(const std::vector<std::string>&, const ReadyCallback& ready) override {
    EchoServiceImpl service;
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (server == nullptr || port == 0) {
      return Status(StatusCode::UNAVAILABLE, "gRPC server could not listen on 127.0.0.1");
    }
    ready("127.0.0.1:" + std::to_string(port));
    WaitForStopSignal();
    server->Shutdown();
    return Status::OK;
  }

  Status Connect(std::string_view endpoint, std::unique_ptr<EchoClient>* client) override {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);  // Loopback, whatever http_proxy says.
    std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
        std::string(endpoint), grpc::InsecureChannelCredentials(), arguments);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      return Status(StatusCode::UNAVAILABLE,
                    "gRPC channel to " + std::string(endpoint) + " not connected within 10 s");
    }
    *client = std::make_unique<GrpcClient>(channel);
    return Status::OK;
  }
};

const CaseRegistration kRegistration(40, "grpc-http2-tcp",
                                     [] { return std::make_unique<GrpcTcpCase>(); });

}  // namespace
}  // namespace notnets::bench
