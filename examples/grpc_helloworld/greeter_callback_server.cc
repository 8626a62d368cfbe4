// The Greeter server of greeter_server.cc written with gRPC's callback API; the same notnets line
// serves it over the memory pool.
//
//   greeter_callback_server [ADDRESS]      (default localhost:50051; port 0 picks a free one)
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <memory>
#include <string>

#include "helloworld.grpc.pb.h"
#include "notnets/grpc/server.h"

namespace {

class GreeterServiceImpl final : public helloworld::Greeter::CallbackService {
  grpc::ServerUnaryReactor* SayHello(grpc::CallbackServerContext* context,
                                     const helloworld::HelloRequest* request,
                                     helloworld::HelloReply* reply) override {
    reply->set_message("Hello " + request->name());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string address = argc > 1 ? argv[1] : "localhost:50051";
  GreeterServiceImpl service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  notnets::grpc::ServeOverPool(&builder, &service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "greeter_callback_server: cannot listen on %s\n", address.c_str());
    return 1;
  }
  std::printf("Server listening on %s:%d and in the memory pool\n",
              address.substr(0, address.rfind(':')).c_str(), port);
  std::fflush(stdout);
  server->Wait();
  return 0;
}
