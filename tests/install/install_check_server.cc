// The install check's Adder server: a gRPC server on ADDRESS that also serves the memory pool
// ($NOTNETS_POOL). Prints "Server listening on HOST:PORT" once it serves.
//
//   install_check_server ADDRESS      (port 0 picks a free one)
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <memory>
#include <string>

#include "install_check.grpc.pb.h"
#include "notnets/grpc/server.h"

namespace {

class AdderImpl final : public install_check::Adder::Service {
  grpc::Status Add(grpc::ServerContext*, const install_check::AddRequest* request,
                   install_check::AddReply* reply) override {
    reply->set_sum(request->a() + request->b());
    return grpc::Status::OK;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: install_check_server ADDRESS\n");
    return 2;
  }
  std::string address = argv[1];
  AdderImpl service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  notnets::grpc::ServeOverPool(&builder, &service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "install_check_server: cannot listen on %s\n", address.c_str());
    return 1;
  }
  std::printf("Server listening on %s:%d\n", address.substr(0, address.rfind(':')).c_str(), port);
  std::fflush(stdout);
  server->Wait();
  return 0;
}
