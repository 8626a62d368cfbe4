// ClientContext::FromServerContext and FromCallbackServerContext in a handler of a call that
// arrived over the pool or HTTP/2: the call the handler makes downstream carries its caller's
// deadline, unless the handler's PropagationOptions leave it out.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "grpc_path_test.h"
#include "notnets/grpc/channel.h"
#include "notnets/grpc/server.h"
#include "notnets/pool.h"
#include "test_pool.h"

namespace notnets::test {
namespace {

using ::grpc::ClientContext;

constexpr int64_t kCallersTimeoutMs = 30000;
// HTTP/2 sends a timeout rounded up (grpc-timeout has at most 8 digits and gRPC rounds it to
// coarser units), so a downstream server may see a little more than its caller had left.
constexpr int64_t kTimeoutRoundingMs = 1000;
using ::grpc::Status;
using ::grpc::StatusCode;

// The options a forwarding handler propagates with: gRPC's defaults, or without the deadline
// when the request's payload says so.
::grpc::PropagationOptions OptionsFor(const EchoRequest& request) {
  ::grpc::PropagationOptions options;
  if (request.payload() == "without deadline") options.disable_deadline_propagation();
  return options;
}

// Forwards Echo downstream through `next` with a context made by FromServerContext.
class SyncForwarder final : public TestService::Service {
 public:
  explicit SyncForwarder(TestService::Stub* next) : next_(next) {}
  Status Echo(::grpc::ServerContext* context, const EchoRequest* request,
              EchoResponse* response) override {
    std::unique_ptr<ClientContext> downstream =
        ClientContext::FromServerContext(*context, OptionsFor(*request));
    return next_->Echo(downstream.get(), *request, response);
  }

 private:
  TestService::Stub* next_;
};

// Forwards Echo downstream through `next` with a context made by FromCallbackServerContext.
class CallbackForwarder final : public TestService::CallbackService {
 public:
  explicit CallbackForwarder(TestService::Stub* next) : next_(next) {}
  ::grpc::ServerUnaryReactor* Echo(::grpc::CallbackServerContext* context,
                                   const EchoRequest* request, EchoResponse* response) override {
    std::unique_ptr<ClientContext> downstream =
        ClientContext::FromCallbackServerContext(*context, OptionsFor(*request));
    ::grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(next_->Echo(downstream.get(), *request, response));
    return reactor;
  }

 private:
  TestService::Stub* next_;
};

class PropagationTest : public GrpcPathTest {
 protected:
  // Starts the front end on `path`.
  void StartFront(Path path) {
    front_pool_ = notnets::testing::UniquePoolName("front");
    if (GetParam().flavor == Flavor::kCallback) {
      front_service_ = std::make_unique<CallbackForwarder>(stub_.get());
    } else {
      front_service_ = std::make_unique<SyncForwarder>(stub_.get());
    }
    StartServer(path, front_pool_, front_service_.get(), &front_server_, &front_channel_);
    ASSERT_NE(front_server_, nullptr);
    front_stub_ = TestService::NewStub(front_channel_);
  }
  void TearDown() override {
    front_stub_.reset();
    front_channel_.reset();
    if (front_server_ != nullptr) front_server_->Shutdown();
    front_server_.reset();
    notnets::Pool::Remove(front_pool_);
    GrpcPathTest::TearDown();
  }
  // Calls the front end's Echo with `payload` and the caller's deadline, expecting OK.
  void CallFront(const std::string& payload, EchoResponse* response) {
    EchoRequest request;
    request.set_payload(payload);
    ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(kCallersTimeoutMs));
    Status status = front_stub_->Echo(&context, request, response);
    ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  }

  std::string front_pool_;
  std::unique_ptr<::grpc::Service> front_service_;
  std::unique_ptr<::grpc::Server> front_server_;
  std::shared_ptr<::grpc::Channel> front_channel_;
  std::unique_ptr<TestService::Stub> front_stub_;
};

INSTANTIATE_TEST_SUITE_P(Variants, PropagationTest, ::testing::ValuesIn(AllVariants()),
                         VariantName);

// The front end forwards to the fixture's server, on the same path, with the flavour under test
// (a callback front end for the callback flavour, a sync one otherwise).
TEST_P(PropagationTest, TheDownstreamCallHasTheCallersDeadline) {
  ASSERT_NO_FATAL_FAILURE(StartFront(GetParam().path));
  EchoResponse response;
  ASSERT_NO_FATAL_FAILURE(CallFront("x", &response));
  EXPECT_EQ(response.payload(), "x");
  EXPECT_GT(response.deadline_remaining_ms(), 0);
  EXPECT_LE(response.deadline_remaining_ms(), kCallersTimeoutMs + kTimeoutRoundingMs);
}

// A pool call's handler calling over HTTP/2, and an HTTP/2 call's handler calling through the pool.
TEST_P(PropagationTest, TheDeadlineCrossesFromOnePathToTheOther) {
  ASSERT_NO_FATAL_FAILURE(StartFront(GetParam().path == Path::kPool ? Path::kHttp2 : Path::kPool));
  EchoResponse response;
  ASSERT_NO_FATAL_FAILURE(CallFront("x", &response));
  EXPECT_GT(response.deadline_remaining_ms(), 0);
  EXPECT_LE(response.deadline_remaining_ms(), kCallersTimeoutMs + kTimeoutRoundingMs);
}

TEST_P(PropagationTest, WithoutDeadlinePropagationTheDownstreamCallHasNone) {
  ASSERT_NO_FATAL_FAILURE(StartFront(GetParam().path));
  EchoResponse response;
  ASSERT_NO_FATAL_FAILURE(CallFront("without deadline", &response));
  EXPECT_EQ(response.deadline_remaining_ms(), -1);
}

}  // namespace
}  // namespace notnets::test
