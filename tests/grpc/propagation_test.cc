// ClientContext::FromServerContext and FromCallbackServerContext in a handler of a call that
// arrived over the pool or HTTP/2: the call the handler makes downstream carries its caller's
// deadline, unless the handler's PropagationOptions leave it out, and is cancelled with its
// caller's call.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

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

// What a forwarder's downstream calls ended with, for the tests to look at.
struct DownstreamResults {
  // The status code of the last downstream call, -1 before one ended.
  std::atomic<int> last_code{-1};
};

// A forwarder's Echo: downstream through `next` with `downstream`, the context made from the
// handler's (`context`). A request whose payload is "after cancel" is forwarded only once the
// caller cancelled its call (the context is made after that, by `make_downstream`).
template <class Context, class MakeDownstream>
Status Forward(Context* context, const EchoRequest& request, EchoResponse* response,
               TestService::Stub* next, DownstreamResults* results,
               MakeDownstream make_downstream) {
  if (request.payload() == "after cancel") {
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!context->IsCancelled() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  std::unique_ptr<ClientContext> downstream = make_downstream();
  EchoRequest forwarded = request;
  if (request.payload() == "after cancel") forwarded.set_payload("x");
  Status status = next->Echo(downstream.get(), forwarded, response);
  results->last_code.store(status.error_code());
  return status;
}

// Forwards Echo downstream through `next` with a context made by FromServerContext.
class SyncForwarder final : public TestService::Service {
 public:
  SyncForwarder(TestService::Stub* next, DownstreamResults* results)
      : next_(next), results_(results) {}
  Status Echo(::grpc::ServerContext* context, const EchoRequest* request,
              EchoResponse* response) override {
    return Forward(context, *request, response, next_, results_, [&] {
      return ClientContext::FromServerContext(*context, OptionsFor(*request));
    });
  }

 private:
  TestService::Stub* next_;
  DownstreamResults* results_;
};

// Forwards Echo downstream through `next` with a context made by FromCallbackServerContext.
class CallbackForwarder final : public TestService::CallbackService {
 public:
  CallbackForwarder(TestService::Stub* next, DownstreamResults* results)
      : next_(next), results_(results) {}
  ::grpc::ServerUnaryReactor* Echo(::grpc::CallbackServerContext* context,
                                   const EchoRequest* request, EchoResponse* response) override {
    ::grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(Forward(context, *request, response, next_, results_, [&] {
      return ClientContext::FromCallbackServerContext(*context, OptionsFor(*request));
    }));
    return reactor;
  }

 private:
  TestService::Stub* next_;
  DownstreamResults* results_;
};

class PropagationTest : public GrpcPathTest {
 protected:
  // Starts the front end on `path`.
  void StartFront(Path path) {
    front_pool_ = notnets::testing::UniquePoolName("front");
    if (GetParam().flavor == Flavor::kCallback) {
      front_service_ = std::make_unique<CallbackForwarder>(stub_.get(), &downstream_);
    } else {
      front_service_ = std::make_unique<SyncForwarder>(stub_.get(), &downstream_);
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

  DownstreamResults downstream_;
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

// The caller cancels while the downstream handler waits: gRPC cancels the front end's
// downstream call with it, so the downstream handler sees the cancellation.
TEST_P(PropagationTest, TheCallersCancellationCancelsTheDownstreamCall) {
  ASSERT_NO_FATAL_FAILURE(StartFront(GetParam().path));
  EchoRequest request;
  request.set_payload("x");
  request.set_wait_for_cancel(true);
  ClientContext context;
  SetHangDeadline(&context);
  EchoResponse response;
  auto call = std::async(std::launch::async,
                         [&] { return front_stub_->Echo(&context, request, &response); });
  ASSERT_TRUE(Eventually([this] { return observations_.calls_waiting == 1; }));
  context.TryCancel();
  EXPECT_EQ(call.get().error_code(), StatusCode::CANCELLED);
  EXPECT_TRUE(Eventually([this] { return observations_.cancellations_seen == 1; },
                         std::chrono::seconds(10)))
      << "the downstream handler did not see its caller's caller cancel";
  EXPECT_TRUE(Eventually([this] { return downstream_.last_code == StatusCode::CANCELLED; }))
      << "the downstream call ended with " << downstream_.last_code;
}

// A handler that makes its downstream context after its caller cancelled: the downstream call
// is cancelled before it starts.
TEST_P(PropagationTest, AContextMadeAfterTheCallersCancellationIsCancelled) {
  ASSERT_NO_FATAL_FAILURE(StartFront(GetParam().path));
  // A call first, so that the 300 ms below are not spent connecting (under the cache simulator
  // that takes longer).
  EchoResponse warm_up;
  ASSERT_NO_FATAL_FAILURE(CallFront("x", &warm_up));
  downstream_.last_code = -1;
  EchoRequest request;
  request.set_payload("after cancel");
  ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  EchoResponse response;
  EXPECT_EQ(front_stub_->Echo(&context, request, &response).error_code(),
            StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(Eventually([this] { return downstream_.last_code != -1; }));
  EXPECT_EQ(downstream_.last_code, StatusCode::CANCELLED);
}

}  // namespace
}  // namespace notnets::test
