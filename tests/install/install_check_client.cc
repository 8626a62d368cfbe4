// The install check's Adder client: one call to the server at ADDRESS through a notnets channel.
// Fails unless the call succeeded, gave the right sum and went through the memory pool
// ($NOTNETS_POOL) rather than over HTTP/2.
//
//   install_check_client ADDRESS
#include <grpcpp/grpcpp.h>

#include <cinttypes>
#include <cstdio>
#include <memory>

#include "install_check.grpc.pb.h"
#include "notnets/grpc/channel.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: install_check_client ADDRESS\n");
    return 2;
  }
  std::shared_ptr<grpc::Channel> channel =
      notnets::grpc::CreateChannel(argv[1], notnets::grpc::ChannelOptions());
  std::unique_ptr<install_check::Adder::Stub> stub = install_check::Adder::NewStub(channel);

  install_check::AddRequest request;
  request.set_a(40);
  request.set_b(2);
  install_check::AddReply reply;
  grpc::ClientContext context;
  grpc::Status status = stub->Add(&context, request, &reply);
  if (!status.ok()) {
    std::fprintf(stderr, "install_check_client: Add failed: %d %s\n", status.error_code(),
                 status.error_message().c_str());
    return 1;
  }
  notnets::grpc::PathCounters paths = notnets::grpc::GetPathCounters(*channel);
  std::printf("sum %" PRId64 "; calls through the pool: %" PRIu64 ", over HTTP/2: %" PRIu64 "\n",
              reply.sum(), paths.pool_calls, paths.http2_calls);
  if (reply.sum() != request.a() + request.b()) {
    std::fprintf(stderr, "install_check_client: wrong sum\n");
    return 1;
  }
  if (paths.pool_calls != 1 || paths.http2_calls != 0) {
    std::fprintf(stderr, "install_check_client: the call did not go through the pool\n");
    return 1;
  }
  return 0;
}
