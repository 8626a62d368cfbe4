// Unary calls of the gRPC behaviour suite, with the sync, callback and completion-queue client
// APIs: the same results through the pool as over HTTP/2.
#include <grpcpp/generic/generic_stub.h>
#include <sched.h>

#include <atomic>
#include <thread>
#include <vector>

#include "grpc_path_test.h"
#include "notnets/pool.h"
#include "pool/call_window.h"
#include "pool/lease_table.h"
#include "pool/pool_access.h"
#include "pool/process_identity.h"
#include "test_pool.h"

namespace notnets::test {
namespace {

using ::grpc::ClientContext;
using ::grpc::Status;
using ::grpc::StatusCode;

class UnaryTest : public GrpcPathTest {};

INSTANTIATE_TEST_SUITE_P(Variants, UnaryTest, ::testing::ValuesIn(AllVariants()), VariantName);

TEST_P(UnaryTest, Echo) {
  EchoRequest request;
  request.set_payload(std::string("hello\0world\xff", 12));
  EchoResponse response;
  ClientContext context;
  Status status = stub_->Echo(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(response.payload(), request.payload());
  ExpectPeer(context, UnaryOverPool());
  ExpectPaths(1);
}

TEST_P(UnaryTest, LargeMessages) {
  constexpr uint32_t kMiB = 1 << 20;
  // Echoed: the same bytes go up and come back.
  for (uint32_t size : {kMiB, 3 * kMiB}) {
    EchoRequest request;
    request.set_payload(Pattern(size, size));
    EchoResponse response;
    ClientContext context;
    Status status = stub_->Echo(&context, request, &response);
    ASSERT_TRUE(status.ok()) << size << " bytes: " << status.error_message();
    EXPECT_TRUE(response.payload() == request.payload()) << size << " bytes";
  }
  // A small request for a large reply.
  EchoRequest request;
  request.set_response_bytes(3 * kMiB);
  EchoResponse response;
  ClientContext context;
  Status status = stub_->Echo(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.payload() == Pattern(3 * kMiB));
  ExpectPaths(3);
}

TEST_P(UnaryTest, EveryErrorStatusWithMessageAndDetails) {
  for (int code = 1; code <= 16; ++code) {
    EchoRequest request;
    // The response the handler fills must not arrive with an error.
    request.set_payload("not delivered");
    request.set_status_code(code);
    request.set_status_message("code " + std::to_string(code) + ": ünïcødé, 100% \"quoted\"\n");
    request.set_status_details(std::string("\0\xff\x01 details ", 10) + std::to_string(code));
    EchoResponse response;
    ClientContext context;
    Status status = stub_->Echo(&context, request, &response);
    EXPECT_EQ(status.error_code(), static_cast<StatusCode>(code));
    EXPECT_EQ(status.error_message(), request.status_message());
    EXPECT_EQ(status.error_details(), request.status_details()) << "code " << code;
    EXPECT_EQ(response.ByteSizeLong(), 0u) << "code " << code;
  }
  ExpectPaths(16);
}

TEST_P(UnaryTest, MetadataBothWays) {
  const std::string binary("\0\x01\xff\xfe bytes\0", 10);
  EchoRequest request;
  request.set_echo_metadata(true);
  EchoResponse response;
  ClientContext context;
  context.AddMetadata("x-test-text", "plain value");
  context.AddMetadata("x-test-multi", "one");
  context.AddMetadata("x-test-multi", "two");
  context.AddMetadata("x-test-data-bin", binary);
  Status status = stub_->Echo(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // In key order, the values of a key in the order they were added.
  const MetadataList expected = {{"x-test-data-bin", binary},
                                 {"x-test-multi", "one"},
                                 {"x-test-multi", "two"},
                                 {"x-test-text", "plain value"}};
  EXPECT_EQ(UserMetadata(context.GetServerInitialMetadata()), expected);
  EXPECT_EQ(UserMetadata(context.GetServerTrailingMetadata()), expected);
  ExpectPeer(context, UnaryOverPool());
  ExpectPaths(1);
}

TEST_P(UnaryTest, DeadlineExceededCancelsTheHandler) {
  EchoRequest request;
  EchoResponse response;
  // A call first, so that the channel is connected: the 200 ms below are for the handler to
  // start and wait, not for the first call's connection set-up (which takes longer than that under
  // the cache simulator).
  ClientContext first;
  ASSERT_TRUE(stub_->Echo(&first, request, &response).ok());
  request.set_wait_for_cancel(true);
  ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  Status status = stub_->Echo(&context, request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  EXPECT_TRUE(Eventually([this] { return observations_.cancellations_seen == 1; }))
      << "the handler did not see the cancellation";
  ExpectPaths(2);
}

TEST_P(UnaryTest, DeadlineReachesTheServer) {
  constexpr int64_t kDeadlineMs = 5000;
  // HTTP/2 carries the timeout in a grpc-timeout header that gRPC rounds up to three significant
  // digits, so the server may see a little more time left than the client gave.
  constexpr int64_t kRoundingMs = kDeadlineMs / 100;
  EchoRequest request;
  EchoResponse response;
  ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(kDeadlineMs));
  Status status = stub_->Echo(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GT(response.deadline_remaining_ms(), 0);
  EXPECT_LE(response.deadline_remaining_ms(), kDeadlineMs + kRoundingMs);

  ClientContext no_deadline;
  status = stub_->Echo(&no_deadline, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.deadline_remaining_ms(), -1) << "a call without deadline got one";
  ExpectPaths(2);
}

TEST_P(UnaryTest, TryCancelFromAnotherThread) {
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
  EXPECT_EQ(status.error_code(), StatusCode::CANCELLED) << status.error_message();
  EXPECT_TRUE(Eventually([this] { return observations_.cancellations_seen == 1; }))
      << "the handler did not see the cancellation";
  ExpectPaths(1);
}

TEST_P(UnaryTest, MethodNotOverriddenIsUnimplemented) {
  EchoRequest request;
  EchoResponse response;
  ClientContext context;
  Status status = stub_->NotOverridden(&context, request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(status.error_message(), "");
  ExpectPaths(1);
}

TEST_P(UnaryTest, UnknownMethodIsUnimplemented) {
  // The server serves its one service over the pool, by name (ServeOverPool(&builder,
  // &service)), and takes there, by full name, the calls of the service's methods it cannot take
  // as they come: gRPC answers this one, as over HTTP/2.
  ::grpc::GenericStub generic(channel_);
  std::string serialized = EchoRequest().SerializeAsString();
  ::grpc::Slice slice(serialized);
  ::grpc::ByteBuffer request(&slice, 1);
  ::grpc::ByteBuffer response;
  ClientContext context;
  SetHangDeadline(&context);
  CallDone done;
  generic.UnaryCall(&context, "/notnets.test.TestService/NoSuchMethod", ::grpc::StubOptions(),
                    &request, &response, [&done](Status status) { done.Set(status); });
  Status status = done.Wait();
  EXPECT_EQ(status.error_code(), StatusCode::UNIMPLEMENTED) << status.error_message();
  EXPECT_EQ(status.error_message(), "");
  if (GetParam().path == Path::kPool) {
    ExpectPaths(1);
  } else {
    ExpectPaths(0, 0, 1);
  }
}

TEST_P(UnaryTest, ConcurrentCallsFromManyThreads) {
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 200;
  std::atomic<int> correct{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &correct] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        EchoRequest request;
        request.set_payload(Pattern(64 + i, t * kCallsPerThread + i));
        EchoResponse response;
        ClientContext context;
        SetHangDeadline(&context);
        if (stub_->Echo(&context, request, &response).ok() &&
            response.payload() == request.payload()) {
          ++correct;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(correct, kThreads * kCallsPerThread);
  ExpectPaths(kThreads * kCallsPerThread);
}

TEST_P(UnaryTest, CallbackApi) {
  // Many calls in flight at once, each answered on a gRPC thread.
  constexpr int kCalls = 100;
  struct Call {
    EchoRequest request;
    EchoResponse response;
    ClientContext context;
    CallDone done;
  };
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < kCalls; ++i) {
    auto call = std::make_unique<Call>();
    call->request.set_payload(Pattern(100, i));
    SetHangDeadline(&call->context);
    stub_->async()->Echo(&call->context, &call->request, &call->response,
                         [done = &call->done](Status status) { done->Set(status); });
    calls.push_back(std::move(call));
  }
  for (int i = 0; i < kCalls; ++i) {
    Status status = calls[i]->done.Wait();
    EXPECT_TRUE(status.ok()) << "call " << i << ": " << status.error_message();
    EXPECT_EQ(calls[i]->response.payload(), calls[i]->request.payload()) << "call " << i;
    ExpectPeer(calls[i]->context, UnaryOverPool());
  }
  ExpectPaths(kCalls);
}

TEST_P(UnaryTest, CompletionQueueApi) {
  ::grpc::CompletionQueue cq;
  EchoRequest request;
  request.set_payload("started at once");
  EchoResponse response;
  Status status;
  ClientContext context;
  SetHangDeadline(&context);
  auto started = stub_->AsyncEcho(&context, request, &cq);
  started->Finish(&response, &status, reinterpret_cast<void*>(1));

  EchoRequest prepared_request;
  prepared_request.set_payload("prepared, then started");
  prepared_request.set_status_code(static_cast<int>(StatusCode::FAILED_PRECONDITION));
  prepared_request.set_status_message("as asked");
  EchoResponse prepared_response;
  Status prepared_status;
  ClientContext prepared_context;
  SetHangDeadline(&prepared_context);
  auto prepared = stub_->PrepareAsyncEcho(&prepared_context, prepared_request, &cq);
  prepared->StartCall();
  prepared->Finish(&prepared_response, &prepared_status, reinterpret_cast<void*>(2));

  int completions[3] = {0, 0, 0};
  for (int i = 0; i < 2; ++i) {
    void* tag;
    bool ok;
    if (!cq.Next(&tag, &ok)) break;
    EXPECT_TRUE(ok);
    auto index = reinterpret_cast<intptr_t>(tag);
    ++completions[index == 1 || index == 2 ? index : 0];
  }
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) ++completions[0];
  EXPECT_EQ(completions[0], 0) << "unexpected completions";
  EXPECT_EQ(completions[1], 1);
  EXPECT_EQ(completions[2], 1);

  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.payload(), request.payload());
  ExpectPeer(context, UnaryOverPool());
  EXPECT_EQ(prepared_status.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(prepared_status.error_message(), "as asked");
  EXPECT_EQ(prepared_response.ByteSizeLong(), 0u);
  ExpectPaths(2);
}

// A process fenced in its pool (a peer of another host judged its lease stale) rejoins under a
// new identity: its gRPC server registers its services in the pool again, and the same gRPC
// channel's calls go through the pool again, with no restart (docs/protocol.md, section 13).
TEST(UnaryRejoinTest, AFencedProcessServesAndCallsThroughThePoolAgain) {
  std::string pool_name = notnets::testing::UniquePoolName("rejoin");
  ServerObservations observations;
  CallbackTestService service(&observations);
  std::unique_ptr<::grpc::Server> server;
  std::shared_ptr<::grpc::Channel> channel;
  StartServer(Path::kPool, pool_name, &service, &server, &channel);
  ASSERT_NE(server, nullptr);
  std::unique_ptr<TestService::Stub> stub = TestService::NewStub(channel);
  auto echo = [&] {
    EchoRequest request;
    request.set_payload("rejoin");
    EchoResponse response;
    ClientContext context;
    SetHangDeadline(&context);
    return stub->Echo(&context, request, &response).ok() && response.payload() == "rejoin";
  };
  ASSERT_TRUE(echo());

  // Fences every record of this process, as a peer of another host does when it judges them
  // stale.
  std::shared_ptr<Pool> pool;
  ASSERT_TRUE(Pool::Attach(pool_name, &pool).ok());
  internal::PoolMapping& mapping = internal::PoolAccess::mapping(*pool);
  auto* records = mapping.At<internal::LeaseRecord>(
      internal::LeaseTableOffset(
          mapping.call_window_offset(),
          uint64_t{mapping.call_window_slots()} * sizeof(internal::CallWindowSlot)) +
      sizeof(internal::LeaseTableHeader));
  uint64_t old_token = internal::SelfIdentity().token;
  for (uint32_t slot = 0; slot < internal::kLeaseSlots; ++slot) {
    if (records[slot].token.load() == old_token)
      records[slot].lease.fetch_or(internal::kLeaseFenced);
  }
  ASSERT_TRUE(Eventually([&] { return internal::SelfIdentity().token != old_token; },
                         std::chrono::seconds(20)))
      << "the process never rejoined";
  uint64_t pool_calls = notnets::grpc::GetPathCounters(*channel).pool_calls;
  // The channel has no HTTP/2 target: a call that succeeds went through the pool.
  EXPECT_TRUE(Eventually(echo, std::chrono::seconds(20))) << "calls never succeeded again";
  EXPECT_GT(notnets::grpc::GetPathCounters(*channel).pool_calls, pool_calls);
  server->Shutdown();
  server.reset();
  pool.reset();
  notnets::Pool::Remove(pool_name);
}

// Completion threads to pin to a CPU this process may not run on: every call fails, naming the
// CPU, rather than going over HTTP/2 unnoticed (docs/threads.md, "Clients").
TEST(GrpcChannelOptionsTest, ACompletionCpuThisProcessMayNotRunOnFailsEveryCall) {
  notnets::grpc::ChannelOptions options;
  options.pool = notnets::testing::UniquePoolName("grpc-cpus");
  options.completion_cpus = {CPU_SETSIZE + 1};
  std::unique_ptr<TestService::Stub> stub =
      TestService::NewStub(notnets::grpc::CreateChannel("localhost:1", options));
  ClientContext context;
  EchoRequest request;
  EchoResponse response;
  Status status = stub->Echo(&context, request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("completion CPU " + std::to_string(CPU_SETSIZE + 1)),
            std::string::npos)
      << status.error_message();
}

}  // namespace
}  // namespace notnets::test
