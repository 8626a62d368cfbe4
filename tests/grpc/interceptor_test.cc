// Client interceptors given to notnets::grpc::CreateChannel run for calls on both paths, at the
// same hook points, and what they change (metadata) goes with the call.
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "grpc_path_test.h"

namespace notnets::test {
namespace {

using ::grpc::ClientContext;
using ::grpc::Status;
using ::grpc::StatusCode;
using ::grpc::experimental::ClientInterceptorFactoryInterface;
using ::grpc::experimental::ClientRpcInfo;
using ::grpc::experimental::InterceptionHookPoints;
using ::grpc::experimental::Interceptor;
using ::grpc::experimental::InterceptorBatchMethods;

using HookCounts = std::map<InterceptionHookPoints, int>;

// What the interceptors of one channel saw, over all its calls.
struct Seen {
  std::mutex mu;
  HookCounts hooks;
  int messages_received = 0;  // POST_RECV_MESSAGE with a message
  std::vector<StatusCode> statuses;
};

// Counts the hook points of each batch and adds the request metadata "x-test-intercepted".
class Recorder final : public Interceptor {
 public:
  explicit Recorder(Seen* seen) : seen_(seen) {}

  void Intercept(InterceptorBatchMethods* methods) override {
    {
      std::lock_guard<std::mutex> lock(seen_->mu);
      for (int point = 0; point < static_cast<int>(InterceptionHookPoints::NUM_INTERCEPTION_HOOKS);
           ++point) {
        auto hook = static_cast<InterceptionHookPoints>(point);
        if (methods->QueryInterceptionHookPoint(hook)) ++seen_->hooks[hook];
      }
      if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
          methods->GetRecvMessage() != nullptr) {
        ++seen_->messages_received;
      }
      if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_STATUS)) {
        seen_->statuses.push_back(methods->GetRecvStatus()->error_code());
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("x-test-intercepted", "yes");
    }
    methods->Proceed();
  }

 private:
  Seen* const seen_;
};

class RecorderFactory final : public ClientInterceptorFactoryInterface {
 public:
  explicit RecorderFactory(Seen* seen) : seen_(seen) {}
  Interceptor* CreateClientInterceptor(ClientRpcInfo*) override { return new Recorder(seen_); }

 private:
  Seen* const seen_;
};

class InterceptorTest : public GrpcPathTest {
 protected:
  notnets::grpc::InterceptorFactories Interceptors() override {
    notnets::grpc::InterceptorFactories factories;
    factories.push_back(std::make_unique<RecorderFactory>(&seen_));
    return factories;
  }

  HookCounts Hooks() {
    std::lock_guard<std::mutex> lock(seen_.mu);
    return seen_.hooks;
  }

  Seen seen_;
};

INSTANTIATE_TEST_SUITE_P(Variants, InterceptorTest, ::testing::ValuesIn(AllVariants()),
                         VariantName);

TEST_P(InterceptorTest, UnaryCall) {
  EchoRequest request;
  request.set_payload("intercepted");
  request.set_echo_metadata(true);
  EchoResponse response;
  ClientContext context;
  Status status = stub_->Echo(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(response.payload(), request.payload());
  const MetadataList added = {{"x-test-intercepted", "yes"}};
  EXPECT_EQ(UserMetadata(context.GetServerInitialMetadata()), added)
      << "the metadata the interceptor added did not reach the server";
  const HookCounts expected = {{InterceptionHookPoints::PRE_SEND_INITIAL_METADATA, 1},
                               {InterceptionHookPoints::PRE_SEND_MESSAGE, 1},
                               {InterceptionHookPoints::POST_SEND_MESSAGE, 1},
                               {InterceptionHookPoints::PRE_SEND_CLOSE, 1},
                               {InterceptionHookPoints::POST_RECV_INITIAL_METADATA, 1},
                               {InterceptionHookPoints::POST_RECV_MESSAGE, 1},
                               {InterceptionHookPoints::POST_RECV_STATUS, 1}};
  EXPECT_EQ(Hooks(), expected);
  EXPECT_EQ(seen_.messages_received, 1);
  EXPECT_EQ(seen_.statuses, std::vector<StatusCode>{StatusCode::OK});
  ExpectPeer(context, UnaryOverPool());
  ExpectPaths(1);
}

TEST_P(InterceptorTest, FailedUnaryCall) {
  EchoRequest request;
  request.set_status_code(static_cast<int>(StatusCode::NOT_FOUND));
  EchoResponse response;
  ClientContext context;
  Status status = stub_->Echo(&context, request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(seen_.messages_received, 0);
  EXPECT_EQ(seen_.statuses, std::vector<StatusCode>{StatusCode::NOT_FOUND});
  ExpectPaths(1);
}

TEST_P(InterceptorTest, BidiStreamWithTheSyncApi) {
  constexpr int kMessages = 3;
  ClientContext context;
  SetHangDeadline(&context);
  auto stream = stub_->Bidi(&context);
  StreamMessage reply;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(stream->Write(NumberedMessage(i, 8)));
    ASSERT_TRUE(stream->Read(&reply));
  }
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&reply));
  Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  const MetadataList added = {{"x-test-intercepted", "yes"}};
  EXPECT_EQ(UserMetadata(context.GetServerInitialMetadata()), added);
  const HookCounts expected = {{InterceptionHookPoints::PRE_SEND_INITIAL_METADATA, 1},
                               {InterceptionHookPoints::PRE_SEND_MESSAGE, kMessages},
                               {InterceptionHookPoints::POST_SEND_MESSAGE, kMessages},
                               {InterceptionHookPoints::PRE_SEND_CLOSE, 1},
                               {InterceptionHookPoints::POST_RECV_INITIAL_METADATA, 1},
                               {InterceptionHookPoints::POST_RECV_MESSAGE, kMessages + 1},
                               {InterceptionHookPoints::POST_RECV_STATUS, 1}};
  EXPECT_EQ(Hooks(), expected);
  EXPECT_EQ(seen_.messages_received, kMessages);
  EXPECT_EQ(seen_.statuses, std::vector<StatusCode>{StatusCode::OK});
  ExpectPeer(context, StreamingOverPool());
  ExpectPaths(0, 1);
}

TEST_P(InterceptorTest, CancellationPassesThrough) {
  EchoRequest request;
  request.set_wait_for_cancel(true);
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  Status status;
  std::thread caller([&] { status = stub_->Echo(&context, request, &response); });
  bool waiting = Eventually([this] { return observations_.calls_waiting == 1; });
  context.TryCancel();
  caller.join();
  ASSERT_TRUE(waiting) << "the handler never ran";
  EXPECT_EQ(status.error_code(), StatusCode::CANCELLED);
  EXPECT_EQ(Hooks()[InterceptionHookPoints::PRE_SEND_CANCEL], 1);
  EXPECT_EQ(seen_.statuses, std::vector<StatusCode>{StatusCode::CANCELLED});
  ExpectPaths(1);
}

}  // namespace
}  // namespace notnets::test
