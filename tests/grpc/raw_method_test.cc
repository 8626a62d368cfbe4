// A raw callback method (WithRawCallbackMethod_) takes and gives serialized messages: the pool
// must reach the user's raw handler, never the typed one it replaces, whether the rest of the
// service is a CallbackService (whose typed methods the pool calls directly) or a sync Service.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "grpc_path_test.h"
#include "notnets/pool.h"
#include "test_pool.h"

namespace notnets::test {
namespace {

using ::grpc::ByteBuffer;
using ::grpc::CallbackServerContext;
using ::grpc::ServerUnaryReactor;

// Answers Echo with "raw:" before the payload, from the request's bytes.
ServerUnaryReactor* RawEcho(CallbackServerContext* context, const ByteBuffer* request,
                            ByteBuffer* response) {
  ServerUnaryReactor* reactor = context->DefaultReactor();
  std::vector<::grpc::Slice> slices;
  std::string bytes;
  if (request->Dump(&slices).ok()) {
    for (const ::grpc::Slice& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  EchoRequest parsed;
  if (!parsed.ParseFromString(bytes)) {
    reactor->Finish(::grpc::Status(::grpc::StatusCode::INTERNAL, "unparsable request"));
    return reactor;
  }
  EchoResponse answer;
  answer.set_payload("raw:" + parsed.payload());
  ::grpc::Slice slice(answer.SerializeAsString());
  *response = ByteBuffer(&slice, 1);
  reactor->Finish(::grpc::Status::OK);
  return reactor;
}

class RawOnCallbackService final
    : public TestService::WithRawCallbackMethod_Echo<TestService::CallbackService> {
  ServerUnaryReactor* Echo(CallbackServerContext* context, const ByteBuffer* request,
                           ByteBuffer* response) override {
    return RawEcho(context, request, response);
  }
};

class RawOnSyncService final
    : public TestService::WithRawCallbackMethod_Echo<TestService::Service> {
  ServerUnaryReactor* Echo(CallbackServerContext* context, const ByteBuffer* request,
                           ByteBuffer* response) override {
    return RawEcho(context, request, response);
  }
};

enum class Base { kCallback, kSync };

struct RawVariant {
  Path path;
  Base base;
};

class RawMethodTest : public ::testing::TestWithParam<RawVariant> {
 protected:
  void SetUp() override {
    if (GetParam().base == Base::kCallback) {
      service_ = std::make_unique<RawOnCallbackService>();
    } else {
      service_ = std::make_unique<RawOnSyncService>();
    }
    StartServer(GetParam().path, pool_name_, service_.get(), &server_, &channel_);
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    channel_.reset();
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    notnets::Pool::Remove(pool_name_);
  }

  std::string pool_name_ = notnets::testing::UniquePoolName("grpcraw");
  std::unique_ptr<::grpc::Service> service_;
  std::unique_ptr<::grpc::Server> server_;
  std::shared_ptr<::grpc::Channel> channel_;
};

INSTANTIATE_TEST_SUITE_P(Variants, RawMethodTest,
                         ::testing::Values(RawVariant{Path::kPool, Base::kCallback},
                                           RawVariant{Path::kPool, Base::kSync},
                                           RawVariant{Path::kHttp2, Base::kCallback},
                                           RawVariant{Path::kHttp2, Base::kSync}),
                         [](const ::testing::TestParamInfo<RawVariant>& info) {
                           return std::string(info.param.path == Path::kPool ? "Pool_" : "Http2_") +
                                  (info.param.base == Base::kCallback ? "Callback" : "Sync");
                         });

TEST_P(RawMethodTest, TheRawHandlerAnswers) {
  auto stub = TestService::NewStub(channel_);
  EchoRequest request;
  request.set_payload("hello");
  EchoResponse response;
  ::grpc::ClientContext context;
  SetHangDeadline(&context);
  ::grpc::Status status = stub->Echo(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(response.payload(), "raw:hello");
  notnets::grpc::PathCounters counters = notnets::grpc::GetPathCounters(*channel_);
  EXPECT_EQ(counters.pool_calls, GetParam().path == Path::kPool ? 1u : 0u);
  EXPECT_EQ(counters.http2_calls, GetParam().path == Path::kHttp2 ? 1u : 0u);
}

}  // namespace
}  // namespace notnets::test
