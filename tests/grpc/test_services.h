// Two implementations of notnets.test.TestService, one per gRPC server API, that do what each
// request asks (see test_service.proto) and record what they observed for the tests to check.
#ifndef NOTNETS_TESTS_GRPC_TEST_SERVICES_H_
#define NOTNETS_TESTS_GRPC_TEST_SERVICES_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "test_service.grpc.pb.h"

namespace notnets::test {

// Bytes that depend on their position and on `seed`, covering all byte values (NUL and 0xFF
// included), so a message that is cut, shifted or mixed up with another one does not compare
// equal.
std::string Pattern(size_t size, uint32_t seed = 0);

// Message `sequence` of a stream of messages of `size` bytes, as both sides of the streaming
// methods write them.
StreamMessage NumberedMessage(uint32_t sequence, uint32_t size);

// What handlers saw, read by the tests from other threads.
struct ServerObservations {
  // Calls now waiting for cancellation (EchoRequest.wait_for_cancel): the tests cancel only once
  // the handler waits, so that the cancellation is seen by the handler, not before it runs.
  std::atomic<int> calls_waiting{0};
  // Calls whose handler saw the cancellation: IsCancelled() for the sync service, OnCancel for
  // the callback one.
  std::atomic<int> cancellations_seen{0};
};

// Handlers of the synchronous API. Over the pool only Echo and NotOverridden are served; the
// streaming methods stay on HTTP/2.
class SyncTestService final : public TestService::Service {
 public:
  explicit SyncTestService(ServerObservations* observations) : observations_(observations) {}

  ::grpc::Status Echo(::grpc::ServerContext* context, const EchoRequest* request,
                      EchoResponse* response) override;
  ::grpc::Status ServerStream(::grpc::ServerContext* context, const StreamRequest* request,
                              ::grpc::ServerWriter<StreamMessage>* writer) override;
  ::grpc::Status ClientStream(::grpc::ServerContext* context,
                              ::grpc::ServerReader<StreamMessage>* reader,
                              StreamSummary* summary) override;
  ::grpc::Status Bidi(::grpc::ServerContext* context,
                      ::grpc::ServerReaderWriter<StreamMessage, StreamMessage>* stream) override;

 private:
  ServerObservations* const observations_;
};

// Handlers of the callback API, with reactors; all of its methods are served over the pool.
class CallbackTestService final : public TestService::CallbackService {
 public:
  explicit CallbackTestService(ServerObservations* observations) : observations_(observations) {}

  ::grpc::ServerUnaryReactor* Echo(::grpc::CallbackServerContext* context,
                                   const EchoRequest* request, EchoResponse* response) override;
  ::grpc::ServerWriteReactor<StreamMessage>* ServerStream(::grpc::CallbackServerContext* context,
                                                          const StreamRequest* request) override;
  ::grpc::ServerReadReactor<StreamMessage>* ClientStream(::grpc::CallbackServerContext* context,
                                                         StreamSummary* summary) override;
  ::grpc::ServerBidiReactor<StreamMessage, StreamMessage>* Bidi(
      ::grpc::CallbackServerContext* context) override;
  // Return no reactor.
  ::grpc::ServerWriteReactor<StreamMessage>* NullReactorServerStream(
      ::grpc::CallbackServerContext* context, const StreamRequest* request) override;
  ::grpc::ServerReadReactor<StreamMessage>* NullReactorClientStream(
      ::grpc::CallbackServerContext* context, StreamSummary* summary) override;
  ::grpc::ServerBidiReactor<StreamMessage, StreamMessage>* NullReactorBidi(
      ::grpc::CallbackServerContext* context) override;

 private:
  ServerObservations* const observations_;
};

}  // namespace notnets::test

#endif  // NOTNETS_TESTS_GRPC_TEST_SERVICES_H_
