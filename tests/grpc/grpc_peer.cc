// A gRPC server or client process for the tests of peers killed during gRPC calls
// (stream_kill_test.cc).
//
//   notnets_grpc_test_peer serve POOL sync|callback
//       Serves notnets.test.TestService (the synchronous or the callback implementation) over
//       the existing pool POOL only. Prints "ready" once serving; on SIGTERM shuts the
//       grpc::Server down, prints "stopped" and exits 0.
//   notnets_grpc_test_peer stream POOL bidi|client|server
//       Opens a stream of that kind through the pool and leaves it half done: bidi writes a
//       message and reads its answer; client writes three messages; server asks for a million
//       messages and reads one. Then prints "streaming" and waits to be killed.
//   notnets_grpc_test_peer echo POOL
//       One Echo call through the pool; prints "code=CODE" and exits 0 only if it succeeded.
#include <grpcpp/grpcpp.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "notnets/grpc/channel.h"
#include "notnets/grpc/server.h"
#include "test_services.h"

namespace {

using notnets::test::StreamMessage;

int Serve(const std::string& pool, const std::string& flavor) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // before any thread starts: sigwait receives it
  notnets::test::ServerObservations observations;
  notnets::test::SyncTestService sync_service(&observations);
  notnets::test::CallbackTestService callback_service(&observations);
  ::grpc::Service* service = flavor == "sync" ? static_cast<::grpc::Service*>(&sync_service)
                                              : static_cast<::grpc::Service*>(&callback_service);
  ::grpc::ServerBuilder builder;
  builder.RegisterService(service);
  notnets::grpc::ServerOptions options;
  options.pool = pool;
  notnets::grpc::ServeOverPool(&builder, service, options);
  std::unique_ptr<::grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) return 1;
  std::printf("ready\n");
  std::fflush(stdout);
  int received = 0;
  sigwait(&stop, &received);
  server->Shutdown();
  std::printf("stopped\n");
  std::fflush(stdout);
  return 0;
}

std::unique_ptr<notnets::test::TestService::Stub> Connect(const std::string& pool) {
  notnets::grpc::ChannelOptions options;
  options.pool = pool;
  return notnets::test::TestService::NewStub(notnets::grpc::CreateChannel("", options));
}

int Stream(const std::string& pool, const std::string& kind) {
  auto stub = Connect(pool);
  ::grpc::ClientContext context;
  StreamMessage message = notnets::test::NumberedMessage(0, 3000);
  bool ok = false;
  std::unique_ptr<::grpc::ClientReaderWriter<StreamMessage, StreamMessage>> bidi;
  std::unique_ptr<::grpc::ClientWriter<StreamMessage>> writer;
  std::unique_ptr<::grpc::ClientReader<StreamMessage>> reader;
  notnets::test::StreamSummary summary;
  if (kind == "bidi") {
    bidi = stub->Bidi(&context);
    StreamMessage answer;
    ok = bidi->Write(message) && bidi->Read(&answer);
  } else if (kind == "client") {
    writer = stub->ClientStream(&context, &summary);
    ok = writer->Write(message) && writer->Write(message) && writer->Write(message);
  } else if (kind == "server") {
    notnets::test::StreamRequest request;
    request.set_message_count(1000000);
    request.set_message_size(1000);
    reader = stub->ServerStream(&context, request);
    ok = reader->Read(&message);
  }
  std::printf("%s\n", ok ? "streaming" : "stream failed");
  std::fflush(stdout);
  while (true) pause();
}

int Echo(const std::string& pool) {
  auto stub = Connect(pool);
  ::grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  notnets::test::EchoRequest request;
  request.set_payload("after");
  notnets::test::EchoResponse response;
  ::grpc::Status status = stub->Echo(&context, request, &response);
  std::printf("code=%d\n", static_cast<int>(status.error_code()));
  std::fflush(stdout);
  return status.ok() && response.payload() == "after" ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "serve" && argc == 4) return Serve(argv[2], argv[3]);
  if (mode == "stream" && argc == 4) return Stream(argv[2], argv[3]);
  if (mode == "echo" && argc == 3) return Echo(argv[2]);
  std::fprintf(stderr,
               "usage: notnets_grpc_test_peer serve POOL sync|callback\n"
               "       notnets_grpc_test_peer stream POOL bidi|client|server\n"
               "       notnets_grpc_test_peer echo POOL\n");
  return 2;
}
