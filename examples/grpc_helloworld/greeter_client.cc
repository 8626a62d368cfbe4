// Says hello to a Greeter through a stock gRPC stub. Only the channel is notnets': the call goes
// through the memory pool when a Greeter serves there, and over HTTP/2 to ADDRESS otherwise.
//
//   greeter_client [ADDRESS] [NAME]      (defaults localhost:50051 and "world")
//
// The pool is $NOTNETS_POOL, else "default".
#include <grpcpp/grpcpp.h>

#include <cinttypes>
#include <cstdio>
#include <memory>
#include <string>

#include "helloworld.grpc.pb.h"
#include "notnets/grpc/channel.h"

int main(int argc, char** argv) {
  std::string address = argc > 1 ? argv[1] : "localhost:50051";
  std::string name = argc > 2 ? argv[2] : "world";
  std::shared_ptr<grpc::Channel> channel =
      notnets::grpc::CreateChannel(address, notnets::grpc::ChannelOptions());
  std::unique_ptr<helloworld::Greeter::Stub> stub = helloworld::Greeter::NewStub(channel);

  helloworld::HelloRequest request;
  request.set_name(name);
  helloworld::HelloReply reply;
  grpc::ClientContext context;
  grpc::Status status = stub->SayHello(&context, request, &reply);
  if (!status.ok()) {
    std::fprintf(stderr, "greeter_client: SayHello failed: %d %s\n", status.error_code(),
                 status.error_message().c_str());
    return 1;
  }
  std::printf("Greeter received: %s\n", reply.message().c_str());

  // Which way the call went: the server of a pool call names its pool in the initial metadata.
  auto peer = context.GetServerInitialMetadata().find(notnets::grpc::kPoolPeerKey);
  if (peer != context.GetServerInitialMetadata().end()) {
    std::printf("served by %.*s\n", static_cast<int>(peer->second.size()), peer->second.data());
  }
  notnets::grpc::PathCounters paths = notnets::grpc::GetPathCounters(*channel);
  std::printf("calls through the pool: %" PRIu64 ", over HTTP/2: %" PRIu64 "\n", paths.pool_calls,
              paths.http2_calls);
  return 0;
}
