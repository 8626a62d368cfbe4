// A callback service's message allocator (SetMessageAllocatorFor_Foo) over the pool and over
// HTTP/2: each call's request and response come from it, the handler's GetRpcAllocatorState() is
// the holder they came in, and every holder is released once its call is done. Without an
// allocator, GetRpcAllocatorState() is still there (gRPC's default holder), as handlers may
// call FreeRequest() on it.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>

#include "grpc_path_test.h"
#include "notnets/pool.h"
#include "test_pool.h"

namespace notnets::test {
namespace {

using ::grpc::Status;

// Counts the holders it hands out and gets back.
class CountingAllocator final : public ::grpc::MessageAllocator<EchoRequest, EchoResponse> {
 public:
  class Holder final : public ::grpc::MessageHolder<EchoRequest, EchoResponse> {
   public:
    explicit Holder(CountingAllocator* allocator) : allocator_(allocator) {
      set_request(&request_);
      set_response(&response_);
    }
    void Release() override {
      allocator_->released.fetch_add(1);
      delete this;
    }

   private:
    CountingAllocator* allocator_;
    EchoRequest request_;
    EchoResponse response_;
  };

  ::grpc::MessageHolder<EchoRequest, EchoResponse>* AllocateMessages() override {
    allocated.fetch_add(1);
    return new Holder(this);
  }

  std::atomic<int> allocated{0};
  std::atomic<int> released{0};
};

// Echo answers whether the handler's allocator state holds the messages it was given, after
// freeing the request early as the state allows.
class AllocatingService final : public TestService::CallbackService {
 public:
  explicit AllocatingService(CountingAllocator* allocator) {
    if (allocator != nullptr) SetMessageAllocatorFor_Echo(allocator);
  }
  ::grpc::ServerUnaryReactor* Echo(::grpc::CallbackServerContext* context,
                                   const EchoRequest* request, EchoResponse* response) override {
    ::grpc::RpcAllocatorState* state = context->GetRpcAllocatorState();
    std::string seen = "no state";
    if (state != nullptr) {
      auto* holder = dynamic_cast<CountingAllocator::Holder*>(state);
      seen = holder == nullptr ? "default state"
             : holder->request() == request && holder->response() == response
                 ? "holder of the call's messages"
                 : "holder of other messages";
      response->set_payload(request->payload() + ": " + seen);
      state->FreeRequest();
    }
    ::grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(Status::OK);
    return reactor;
  }
};

class MessageAllocatorTest : public ::testing::TestWithParam<Path> {
 protected:
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    notnets::Pool::Remove(pool_);
  }
  // Serves `service` on the path under test; calls Echo `calls` times; returns the last payload.
  std::string CallEcho(::grpc::Service* service, int calls) {
    StartServer(GetParam(), pool_, service, &server_, &channel_);
    if (server_ == nullptr) return "server did not start";
    auto stub = TestService::NewStub(channel_);
    std::string last;
    for (int i = 0; i < calls; ++i) {
      EchoRequest request;
      request.set_payload("call " + std::to_string(i));
      EchoResponse response;
      ::grpc::ClientContext context;
      SetHangDeadline(&context);
      Status status = stub->Echo(&context, request, &response);
      if (!status.ok()) return "failed: " + status.error_message();
      last = response.payload();
    }
    return last;
  }

  std::string pool_ = notnets::testing::UniquePoolName("allocator");
  std::unique_ptr<::grpc::Server> server_;
  std::shared_ptr<::grpc::Channel> channel_;
};

INSTANTIATE_TEST_SUITE_P(Paths, MessageAllocatorTest, ::testing::Values(Path::kPool, Path::kHttp2),
                         [](const ::testing::TestParamInfo<Path>& info) {
                           return std::string(info.param == Path::kPool ? "Pool" : "Http2");
                         });

TEST_P(MessageAllocatorTest, EveryCallsMessagesComeFromTheAllocatorAndGoBack) {
  CountingAllocator allocator;
  AllocatingService service(&allocator);
  EXPECT_EQ(CallEcho(&service, 5), "call 4: holder of the call's messages");
  EXPECT_EQ(allocator.allocated.load(), 5);
  // A holder goes back after its call's OnDone, which may follow the client's answer.
  EXPECT_TRUE(Eventually([&] { return allocator.released.load() == 5; }))
      << allocator.released.load() << " of 5 holders released";
}

TEST_P(MessageAllocatorTest, WithoutAnAllocatorTheHandlerStillHasAnAllocatorState) {
  AllocatingService service(nullptr);
  EXPECT_EQ(CallEcho(&service, 2), "call 1: default state");
}

}  // namespace
}  // namespace notnets::test
