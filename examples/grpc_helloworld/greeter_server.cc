// A Greeter server with gRPC's synchronous API. It listens on a TCP port as any gRPC server does,
// and, through the one notnets line, also serves clients in the same memory pool.
//
//   greeter_server [ADDRESS]      (default localhost:50051; port 0 picks a free one)
//
// The pool is $NOTNETS_POOL, else "default"; it is created if it does not exist.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <memory>
#include <string>

#include "helloworld.grpc.pb.h"
#include "notnets/grpc/server.h"

namespace {

class GreeterServiceImpl final : public helloworld::Greeter::Service {
  grpc::Status SayHello(grpc::ServerContext*, const helloworld::HelloRequest* request,
                        helloworld::HelloReply* reply) override {
    reply->set_message("Hello " + request->name());
    return grpc::Status::OK;
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
    std::fprintf(stderr, "greeter_server: cannot listen on %s\n", address.c_str());
    return 1;
  }
  // The port actually bound, which differs from the one asked for when that was 0.
  std::printf("Server listening on %s:%d and in the memory pool\n",
              address.substr(0, address.rfind(':')).c_str(), port);
  std::fflush(stdout);
  server->Wait();
  return 0;
}
