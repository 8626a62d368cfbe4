// Two gRPC servers serve one service as replicas through the pool (ServerOptions::replica); one
// drains as it goes (ServerOptions::drain_timeout) while a client calls, and no call fails.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "grpc_path_test.h"
#include "notnets/grpc/channel.h"
#include "notnets/grpc/server.h"
#include "notnets/pool.h"
#include "test_pool.h"

namespace notnets::test {
namespace {

// Answers every Echo with its own name, so that a client tells which replica answered.
class NamedEchoService final : public TestService::CallbackService {
 public:
  explicit NamedEchoService(std::string name) : name_(std::move(name)) {}
  ::grpc::ServerUnaryReactor* Echo(::grpc::CallbackServerContext* context, const EchoRequest*,
                                   EchoResponse* response) override {
    response->set_payload(name_);
    ::grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(::grpc::Status::OK);
    return reactor;
  }

 private:
  const std::string name_;
};

class GrpcReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override { pool_name_ = notnets::testing::UniquePoolName("grpc-replicas"); }
  void TearDown() override { notnets::Pool::Remove(pool_name_); }

  // A gRPC server of `service` that serves it in the pool as a replica and drains when it goes.
  std::unique_ptr<::grpc::Server> StartReplica(::grpc::Service* service) {
    ::grpc::ServerBuilder builder;
    builder.RegisterService(service);
    notnets::grpc::ServerOptions options;
    options.pool = pool_name_;
    options.replica = true;
    options.drain_timeout = std::chrono::seconds(10);
    notnets::grpc::ServeOverPool(&builder, service, options);
    return builder.BuildAndStart();
  }

  std::string pool_name_;
};

TEST_F(GrpcReplicasTest, ADrainingReplicaFailsNoCall) {
  ServerObservations leaving_observations, staying_observations;
  CallbackTestService leaving_service(&leaving_observations);
  CallbackTestService staying_service(&staying_observations);
  std::unique_ptr<::grpc::Server> leaving = StartReplica(&leaving_service);
  std::unique_ptr<::grpc::Server> staying = StartReplica(&staying_service);
  ASSERT_NE(leaving, nullptr);
  ASSERT_NE(staying, nullptr);

  notnets::grpc::ChannelOptions options;
  options.pool = pool_name_;
  // No HTTP/2 target: every call goes through the pool, or fails.
  std::unique_ptr<TestService::Stub> stub =
      TestService::NewStub(notnets::grpc::CreateChannel("", options));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ok{0}, failed{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      while (!stop.load()) {
        EchoRequest request;
        request.set_payload("drain");
        EchoResponse response;
        ::grpc::ClientContext context;
        (stub->Echo(&context, request, &response).ok() ? ok : failed).fetch_add(1);
      }
    });
  }
  auto wait_for_calls = [&ok](uint64_t more) {
    uint64_t target = ok.load() + more;
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (ok.load() < target && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return ok.load() >= target;
  };
  EXPECT_TRUE(wait_for_calls(200));
  leaving->Shutdown();
  leaving.reset();
  EXPECT_TRUE(wait_for_calls(200));
  stop.store(true);
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(failed.load(), 0u);
  staying->Shutdown();
}

// From when its grpc::Server begins shutting down, a replica takes no new call: the channel
// sends every call to the other replica, while the first server still exists.
TEST_F(GrpcReplicasTest, AReplicaShuttingDownLeavesNewCallsToTheOthers) {
  NamedEchoService leaving_service("leaving");
  NamedEchoService staying_service("staying");
  std::unique_ptr<::grpc::Server> leaving = StartReplica(&leaving_service);
  std::unique_ptr<::grpc::Server> staying = StartReplica(&staying_service);
  ASSERT_NE(leaving, nullptr);
  ASSERT_NE(staying, nullptr);
  notnets::grpc::ChannelOptions options;
  options.pool = pool_name_;
  std::unique_ptr<TestService::Stub> stub =
      TestService::NewStub(notnets::grpc::CreateChannel("", options));
  auto call = [&stub] {
    EchoResponse response;
    ::grpc::ClientContext context;
    ::grpc::Status status = stub->Echo(&context, EchoRequest(), &response);
    return status.ok() ? response.payload() : "failed: " + status.error_message();
  };
  // The channel knows both replicas: each answers a call.
  std::set<std::string> answered;
  for (int i = 0; i < 1000 && answered.size() < 2; ++i) answered.insert(call());
  ASSERT_EQ(answered, (std::set<std::string>{"leaving", "staying"}));

  leaving->Shutdown();
  answered.clear();
  for (int i = 0; i < 100; ++i) answered.insert(call());
  EXPECT_EQ(answered, std::set<std::string>{"staying"});
  staying->Shutdown();
}

}  // namespace
}  // namespace notnets::test
