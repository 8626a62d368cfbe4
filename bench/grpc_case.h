// What the gRPC cases share: the ways of serving and calling echo.proto (GrpcApi) and the two
// transports (TCP loopback and a Unix-domain socket), all over HTTP/2 without TLS.
#ifndef NOTNETS_BENCH_GRPC_CASE_H_
#define NOTNETS_BENCH_GRPC_CASE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "case.h"
#include "emergency.h"

namespace grpc {
class Service;
}  // namespace grpc

namespace notnets::bench {

// Where a gRPC server listens.
enum class GrpcTransport { kTcp, kUnixSocket };

// Which gRPC API server and client use, and which method the client's Call makes.
enum class GrpcApi {
  // EchoService::Service with a synchronous handler; a blocking stub.
  kSync,
  // EchoService::CallbackService with a default reactor; the stub's async() callback calls.
  kCallback,
  // EchoService::Service with a synchronous handler; the stub's completion-queue calls
  // (AsyncEcho, then Next on the client's own queue).
  kCompletionQueue,
  // EchoStreamService::CallbackService; a blocking stub reads server streams of
  // kStreamMessages replies, one reply per Call.
  kServerStream,
  // EchoStreamService::CallbackService; a blocking stub keeps one bidi stream open and each Call
  // writes a request and reads its reply (ping-pong).
  kBidiStream,
};

// Replies in each server stream of GrpcApi::kServerStream.
inline constexpr uint64_t kStreamMessages = 10000;

// The service that clients of `api` call (see GrpcApi), for a grpc::ServerBuilder.
std::unique_ptr<::grpc::Service> MakeEchoService(GrpcApi api);

// One gRPC case: `transport` and `api` fixed at construction.
class GrpcCase : public Case {
 public:
  GrpcCase(GrpcTransport transport, GrpcApi api) : transport_(transport), api_(api) {}
  ~GrpcCase() override;

  // Picks a socket path for kUnixSocket (removed with the case).
  Status Setup(const CaseOptions& options, std::vector<std::string>* server_args) override;

  // Announces the address to dial: "127.0.0.1:<port the kernel picked>" or "unix:<path>".
  Status Serve(const std::vector<std::string>& server_args, const ReadyCallback& ready) override;

  Status Connect(const std::vector<std::string>& server_args, std::string_view endpoint,
                 const ClientOptions& options, std::unique_ptr<EchoClient>* client) override;

 private:
  const GrpcTransport transport_;
  const GrpcApi api_;
  std::string socket_path_;  // parent, kUnixSocket: the socket to remove
  std::unique_ptr<EmergencyUnlink> unlink_on_emergency_;
};

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_GRPC_CASE_H_
