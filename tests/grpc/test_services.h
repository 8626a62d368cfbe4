// Two implementations of notnets.test.TestService, one per gRPC server API, that do what each
// request asks (see test_service.proto) and record what they observed for the tests to check.
#ifndef NOTNETS_TESTS_GRPC_TEST_SERVICES_H_
#define NOTNETS_TESTS_GRPC_TEST_SERVICES_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "test_service.grpc.pb.h"

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace notnets::test {

// Bytes that depend on their position and on `seed`, covering all byte values (NUL and 0xFF
// included), so a message that is cut, shifted or mixed up with another one does not compare
// equal.
std::string Pattern(size_t size, uint32_t seed = 0);

// Message `sequence` of a stream of messages of `size` bytes, as both sides of the streaming
// methods write them.
StreamMessage NumberedMessage(uint32_t sequence, uint32_t size);

// Echo's reply to `request`: metadata, deadline and payload, as every server API's Echo gives it.
void AnswerEcho(::grpc::ServerContextBase* context, const EchoRequest& request,
                EchoResponse* response);
// What every streaming handler does first (test_service.proto): echoes the "x-test-" metadata
// and says in the trailer "x-deadline" whether the call has a deadline.
void StartStream(::grpc::ServerContextBase* context);
// The status a request's status_code, status_message and status_details ask for.
::grpc::Status RequestedStatus(int32_t code, const std::string& message,
                               const std::string& details = "");
// Adds `message` to a client stream's summary.
void Count(const StreamMessage& message, StreamSummary* summary);

// What handlers saw, read by the tests from other threads.
struct ServerObservations {
  // Calls now waiting for cancellation (EchoRequest.wait_for_cancel): the tests cancel only once
  // the handler waits, so that the cancellation is seen by the handler, not before it runs.
  std::atomic<int> calls_waiting{0};
  // Calls whose handler saw the cancellation: IsCancelled() for the sync service, OnCancel for
  // the callback one.
  std::atomic<int> cancellations_seen{0};
  // Messages the callback service's server streams wrote that the stream took (OnWriteDone(true)):
  // what flow control let the writer get ahead of the reader by.
  std::atomic<uint64_t> messages_written{0};
};

// Handlers of the synchronous API.
class SyncTestService : public TestService::Service {
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

 protected:
  // For a service built on this one by a template that constructs it without arguments.
  SyncTestService() = default;
  void set_observations(ServerObservations* observations) { observations_ = observations; }
  ServerObservations* observations() const { return observations_; }

 private:
  ServerObservations* observations_ = nullptr;
};

// Handlers of the callback API, with reactors.
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
