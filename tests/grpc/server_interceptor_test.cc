// Server interceptors registered with the ServerBuilder run for calls on both paths (over the
// pool every call of such a server is bridged into it for that), and what they decide holds.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "grpc_path_test.h"

namespace notnets::test {
namespace {

using ::grpc::ClientContext;
using ::grpc::Status;
using ::grpc::StatusCode;
using ::grpc::experimental::InterceptionHookPoints;
using ::grpc::experimental::Interceptor;
using ::grpc::experimental::InterceptorBatchMethods;
using ::grpc::experimental::ServerInterceptorFactoryInterface;
using ::grpc::experimental::ServerRpcInfo;

constexpr char kRejectKey[] = "x-test-reject";
constexpr char kRejectMessage[] = "rejected by the server interceptor";

// What the interceptors of one server saw.
struct ServerSeen {
  std::atomic<int> calls{0};              // calls of the test service intercepted
  std::atomic<int> messages_received{0};  // POST_RECV_MESSAGE with a message
};

// Counts the calls and received messages; replaces the status of a call whose client metadata
// carry kRejectKey with PERMISSION_DENIED.
class Gatekeeper final : public Interceptor {
 public:
  explicit Gatekeeper(ServerSeen* seen) : seen_(seen) {}

  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* metadata = methods->GetRecvInitialMetadata();
      reject_ = metadata->find(kRejectKey) != metadata->end();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      ++seen_->messages_received;
    }
    if (reject_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      methods->ModifySendStatus(Status(StatusCode::PERMISSION_DENIED, kRejectMessage));
    }
    methods->Proceed();
  }

 private:
  ServerSeen* const seen_;
  bool reject_ = false;
};

class GatekeeperFactory final : public ServerInterceptorFactoryInterface {
 public:
  explicit GatekeeperFactory(ServerSeen* seen) : seen_(seen) {}
  Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    if (!std::string(info->method()).starts_with("/notnets.test.TestService/")) return nullptr;
    ++seen_->calls;
    return new Gatekeeper(seen_);
  }

 private:
  ServerSeen* const seen_;
};

class ServerInterceptorTest : public GrpcPathTest {
 protected:
  void ConfigureServer(::grpc::ServerBuilder* builder) override {
    std::vector<std::unique_ptr<ServerInterceptorFactoryInterface>> factories;
    factories.push_back(std::make_unique<GatekeeperFactory>(&seen_));
    builder->experimental().SetInterceptorCreators(std::move(factories));
  }

  ServerSeen seen_;
};

INSTANTIATE_TEST_SUITE_P(Variants, ServerInterceptorTest, ::testing::ValuesIn(AllVariants()),
                         VariantName);

TEST_P(ServerInterceptorTest, RunsForUnaryCalls) {
  EchoRequest request;
  request.set_payload("through the gate");
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  Status status = stub_->Echo(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(response.payload(), "through the gate");
  EXPECT_EQ(seen_.calls, 1);
  EXPECT_EQ(seen_.messages_received, 1);
  ExpectPeer(context, UnaryOverPool());
  ExpectPaths(1);
}

TEST_P(ServerInterceptorTest, RejectsAUnaryCall) {
  EchoRequest request;
  request.set_payload("not through the gate");
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  context.AddMetadata(kRejectKey, "yes");
  Status status = stub_->Echo(&context, request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), kRejectMessage);
  EXPECT_EQ(seen_.calls, 1);
  ExpectPaths(1);
}

TEST_P(ServerInterceptorTest, RunsForStreams) {
  ClientContext context;
  SetHangDeadline(&context);
  auto stream = stub_->Bidi(&context);
  constexpr uint32_t kMessages = 3;
  for (uint32_t i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(stream->Write(NumberedMessage(i, 10)));
    StreamMessage reply;
    ASSERT_TRUE(stream->Read(&reply));
    EXPECT_EQ(reply.sequence(), i);
  }
  EXPECT_TRUE(stream->WritesDone());
  Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(seen_.calls, 1);
  EXPECT_EQ(seen_.messages_received, static_cast<int>(kMessages));
  ExpectPaths(0, 1);
}

TEST_P(ServerInterceptorTest, RejectsAStream) {
  ClientContext context;
  SetHangDeadline(&context);
  context.AddMetadata(kRejectKey, "yes");
  StreamRequest request;
  request.set_message_count(2);
  request.set_message_size(5);
  auto reader = stub_->ServerStream(&context, request);
  StreamMessage message;
  while (reader->Read(&message)) {
  }
  Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), kRejectMessage);
  ExpectPaths(0, 1);
}

}  // namespace
}  // namespace notnets::test
