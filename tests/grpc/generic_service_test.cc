// Generic services (CallbackGenericService, AsyncGenericService) on a server built with
// ServeOverPool(&builder, options) serve calls from GenericStub and from typed stubs, unary and
// streaming, with the same results over the pool (a server with no HTTP/2 port, a channel with no
// target) and over HTTP/2. Each pool case checks that its calls went through the pool.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpc_path_test.h"
#include "notnets/grpc/server.h"
#include "notnets/pool.h"
#include "test_pool.h"

namespace notnets::test {
namespace {

using ::grpc::ByteBuffer;
using ::grpc::ClientContext;
using ::grpc::Status;

std::string Bytes(const ByteBuffer& buffer) {
  std::vector<::grpc::Slice> slices;
  std::string bytes;
  if (buffer.Dump(&slices).ok()) {
    for (const ::grpc::Slice& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  return bytes;
}

ByteBuffer Buffer(const std::string& bytes) {
  ::grpc::Slice slice(bytes);
  return ByteBuffer(&slice, 1);
}

// The initial metadata entry by which the generic services say which method they served.
constexpr char kMethodKey[] = "x-generic-method";

// Sends every message it reads back unchanged, then finishes OK once the client half-closed.
class EchoReactor final : public ::grpc::ServerGenericBidiReactor {
 public:
  explicit EchoReactor(::grpc::GenericCallbackServerContext* context) {
    context->AddInitialMetadata(kMethodKey, context->method());
    StartRead(&message_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(Status::OK);
      return;
    }
    StartWrite(&message_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(Status(::grpc::StatusCode::UNKNOWN, "write failed"));
      return;
    }
    StartRead(&message_);
  }
  void OnDone() override { delete this; }

 private:
  ByteBuffer message_;
};

class CallbackEcho final : public ::grpc::CallbackGenericService {
  ::grpc::ServerGenericBidiReactor* CreateReactor(
      ::grpc::GenericCallbackServerContext* context) override {
    return new EchoReactor(context);
  }
};

// The same echo on the completion-queue API, one call at a time on its own thread.
class AsyncEcho {
 public:
  AsyncEcho(::grpc::AsyncGenericService* service, ::grpc::ServerCompletionQueue* queue)
      : service_(service), queue_(queue), thread_([this] { Run(); }) {}
  // After the server's Shutdown: the queue is drained and shut down.
  void Stop() {
    thread_.join();
    queue_->Shutdown();
    void* tag;
    bool ok;
    while (queue_->Next(&tag, &ok)) {
    }
  }

 private:
  // False once the queue has nothing more: the server is shutting down.
  bool Wait() {
    void* tag;
    bool ok = false;
    return queue_->Next(&tag, &ok) && ok;
  }
  void Run() {
    for (;;) {
      ::grpc::GenericServerContext context;
      ::grpc::GenericServerAsyncReaderWriter stream(&context);
      service_->RequestCall(&context, &stream, queue_, queue_, this);
      if (!Wait()) return;
      context.AddInitialMetadata(kMethodKey, context.method());
      ByteBuffer message;
      for (;;) {
        stream.Read(&message, this);
        if (!Wait()) break;
        stream.Write(message, this);
        if (!Wait()) break;
      }
      stream.Finish(Status::OK, this);
      Wait();
    }
  }

  ::grpc::AsyncGenericService* service_;
  ::grpc::ServerCompletionQueue* queue_;
  std::thread thread_;
};

enum class Generic { kCallback, kAsync };

struct GenericVariant {
  Path path;
  Generic generic;
};

std::string GenericVariantName(const ::testing::TestParamInfo<GenericVariant>& info) {
  return std::string(info.param.path == Path::kPool ? "Pool" : "Http2") +
         (info.param.generic == Generic::kCallback ? "_Callback" : "_Async");
}

class GenericServiceTest : public ::testing::TestWithParam<GenericVariant> {
 protected:
  void SetUp() override {
    pool_name_ = notnets::testing::UniquePoolName("grpcgen");
    ::grpc::ServerBuilder builder;
    int port = 0;
    if (GetParam().path == Path::kHttp2) {
      builder.AddListeningPort("localhost:0", ::grpc::InsecureServerCredentials(), &port);
    }
    std::unique_ptr<::grpc::ServerCompletionQueue> queue;
    if (GetParam().generic == Generic::kCallback) {
      builder.RegisterCallbackGenericService(&callback_service_);
    } else {
      builder.RegisterAsyncGenericService(&async_service_);
      queue = builder.AddCompletionQueue();
    }
    if (GetParam().path == Path::kPool) {
      notnets::grpc::ServerOptions options;
      options.pool = pool_name_;
      notnets::grpc::ServeOverPool(&builder, options);
    }
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    if (queue != nullptr) {
      queue_ = std::move(queue);
      async_echo_ = std::make_unique<AsyncEcho>(&async_service_, queue_.get());
    }
    notnets::grpc::ChannelOptions options;
    options.pool = pool_name_;
    channel_ = notnets::grpc::CreateChannel(
        GetParam().path == Path::kHttp2 ? "localhost:" + std::to_string(port) : std::string(),
        options);
  }
  void TearDown() override {
    channel_.reset();
    if (server_ != nullptr) server_->Shutdown();
    if (async_echo_ != nullptr) async_echo_->Stop();
    server_.reset();
    notnets::Pool::Remove(pool_name_);
  }

  // Expects `calls` calls so far, all on the variant's path.
  void ExpectPaths(uint64_t calls) const {
    notnets::grpc::PathCounters counters = notnets::grpc::GetPathCounters(*channel_);
    EXPECT_EQ(counters.pool_calls, GetParam().path == Path::kPool ? calls : 0);
    EXPECT_EQ(counters.http2_calls, GetParam().path == Path::kHttp2 ? calls : 0);
  }

  // Expects the finished call `context` to have been served by the generic service as
  // `method`, through the pool exactly in the pool variant.
  void ExpectServed(const ClientContext& context, const std::string& method) const {
    const auto& metadata = context.GetServerInitialMetadata();
    auto served = metadata.find(kMethodKey);
    ASSERT_NE(served, metadata.end());
    EXPECT_EQ(std::string(served->second.data(), served->second.size()), method);
    auto peer = metadata.find(notnets::grpc::kPoolPeerKey);
    EXPECT_EQ(peer != metadata.end(), GetParam().path == Path::kPool);
    EXPECT_EQ(context.peer().starts_with("notnets:"), GetParam().path == Path::kPool)
        << context.peer();
  }

  // A unary call through a GenericStub (callback API).
  Status GenericUnary(const std::string& method, const std::string& request, std::string* response,
                      ClientContext* context) {
    ::grpc::GenericStub stub(channel_);
    SetHangDeadline(context);
    ByteBuffer request_buffer = Buffer(request);
    ByteBuffer response_buffer;
    std::promise<Status> done;
    stub.UnaryCall(context, method, ::grpc::StubOptions(), &request_buffer, &response_buffer,
                   [&done](Status status) { done.set_value(std::move(status)); });
    Status status = done.get_future().get();
    *response = Bytes(response_buffer);
    return status;
  }

  CallbackEcho callback_service_;
  ::grpc::AsyncGenericService async_service_;
  std::unique_ptr<::grpc::ServerCompletionQueue> queue_;
  std::unique_ptr<AsyncEcho> async_echo_;
  std::unique_ptr<::grpc::Server> server_;
  std::shared_ptr<::grpc::Channel> channel_;
  std::string pool_name_;
};

TEST_P(GenericServiceTest, GenericStubUnaryGetsTheBytesBack) {
  // Not protobuf: a generic service's bytes are carried as they are.
  const std::string request = std::string("\xff\x00 not a protobuf message \x01", 28);
  const std::string method = "/any.Service/AnyMethod";
  ClientContext context;
  std::string response;
  Status status = GenericUnary(method, request, &response, &context);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response, request);
  ExpectServed(context, method);
  ExpectPaths(1);
}

TEST_P(GenericServiceTest, GenericStubUnaryCarriesLargeAndEmptyMessages) {
  const std::string method = "/any.Service/Large";
  std::string large(300 * 1024, '\0');
  for (size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>(i * 7);
  for (const std::string& request : {large, std::string()}) {
    ClientContext context;
    std::string response = "stale";
    Status status = GenericUnary(method, request, &response, &context);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response, request);
    ExpectServed(context, method);
  }
  ExpectPaths(2);
}

TEST_P(GenericServiceTest, GenericStubStreamEchoesEveryMessage) {
  ::grpc::GenericStub stub(channel_);
  ::grpc::CompletionQueue queue;
  ClientContext context;
  SetHangDeadline(&context);
  const std::string method = "/any.Service/Stream";
  std::unique_ptr<::grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, method, &queue);
  void* tag;
  bool ok = false;
  call->StartCall(&queue);
  ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
  for (int i = 0; i < 5; ++i) {
    std::string sent = "message " + std::to_string(i) + std::string(i * 1000, 'x');
    call->Write(Buffer(sent), &queue);
    ASSERT_TRUE(queue.Next(&tag, &ok) && ok) << i;
    ByteBuffer received;
    call->Read(&received, &queue);
    ASSERT_TRUE(queue.Next(&tag, &ok) && ok) << i;
    EXPECT_EQ(Bytes(received), sent);
  }
  call->WritesDone(&queue);
  ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
  ByteBuffer after_end;
  call->Read(&after_end, &queue);
  ASSERT_TRUE(queue.Next(&tag, &ok));
  EXPECT_FALSE(ok);  // the server finished without another message
  Status status;
  call->Finish(&status, &queue);
  ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
  EXPECT_TRUE(status.ok()) << status.error_message();
  ExpectServed(context, method);
  ExpectPaths(1);
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
}

TEST_P(GenericServiceTest, TypedStubUnaryReachesTheGenericService) {
  // The server has no TestService: its generic service answers, with the request's bytes, which
  // are a valid EchoResponse (the same field 1).
  auto stub = TestService::NewStub(channel_);
  EchoRequest request;
  request.set_payload("typed through generic");
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  Status status = stub->Echo(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.payload(), "typed through generic");
  ExpectServed(context, "/notnets.test.TestService/Echo");
  ExpectPaths(1);
}

TEST_P(GenericServiceTest, TypedStubBidiReachesTheGenericService) {
  auto stub = TestService::NewStub(channel_);
  ClientContext context;
  SetHangDeadline(&context);
  auto stream = stub->Bidi(&context);
  for (uint32_t i = 0; i < 3; ++i) {
    StreamMessage sent;
    sent.set_sequence(i);
    sent.set_payload(std::string(i + 1, 'p'));
    ASSERT_TRUE(stream->Write(sent));
    StreamMessage received;
    ASSERT_TRUE(stream->Read(&received));
    EXPECT_EQ(received.sequence(), i);
    EXPECT_EQ(received.payload(), sent.payload());
  }
  ASSERT_TRUE(stream->WritesDone());
  StreamMessage extra;
  EXPECT_FALSE(stream->Read(&extra));
  Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  ExpectServed(context, "/notnets.test.TestService/Bidi");
  ExpectPaths(1);
}

INSTANTIATE_TEST_SUITE_P(Variants, GenericServiceTest,
                         ::testing::Values(GenericVariant{Path::kPool, Generic::kCallback},
                                           GenericVariant{Path::kPool, Generic::kAsync},
                                           GenericVariant{Path::kHttp2, Generic::kCallback},
                                           GenericVariant{Path::kHttp2, Generic::kAsync}),
                         GenericVariantName);

// A GenericStub calling a method of a typed service the server serves by name
// (ServeOverPool(&builder, &service)), whose binding this program links: the messages go as
// bytes, and the typed server parses them.
class GenericStubOnTypedServiceTest : public ::testing::TestWithParam<Path> {
 protected:
  void SetUp() override {
    pool_name_ = notnets::testing::UniquePoolName("grpcgent");
    StartServer(GetParam(), pool_name_, &service_, &server_, &channel_);
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    channel_.reset();
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    notnets::Pool::Remove(pool_name_);
  }

  void ExpectPath(uint64_t calls, const ClientContext& context) const {
    notnets::grpc::PathCounters counters = notnets::grpc::GetPathCounters(*channel_);
    EXPECT_EQ(counters.pool_calls, GetParam() == Path::kPool ? calls : 0);
    EXPECT_EQ(counters.http2_calls, GetParam() == Path::kHttp2 ? calls : 0);
    const auto& metadata = context.GetServerInitialMetadata();
    EXPECT_EQ(metadata.find(notnets::grpc::kPoolPeerKey) != metadata.end(),
              GetParam() == Path::kPool);
    EXPECT_EQ(context.peer().starts_with("notnets:"), GetParam() == Path::kPool) << context.peer();
  }

  ServerObservations observations_;
  CallbackTestService service_{&observations_};
  std::unique_ptr<::grpc::Server> server_;
  std::shared_ptr<::grpc::Channel> channel_;
  std::string pool_name_;
};

TEST_P(GenericStubOnTypedServiceTest, UnaryCall) {
  ::grpc::GenericStub stub(channel_);
  EchoRequest request;
  request.set_payload("generic to typed");
  ByteBuffer request_buffer = Buffer(request.SerializeAsString());
  ByteBuffer response_buffer;
  ClientContext context;
  SetHangDeadline(&context);
  std::promise<Status> done;
  stub.UnaryCall(&context, "/notnets.test.TestService/Echo", ::grpc::StubOptions(), &request_buffer,
                 &response_buffer, [&done](Status status) { done.set_value(std::move(status)); });
  Status status = done.get_future().get();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EchoResponse response;
  ASSERT_TRUE(response.ParseFromString(Bytes(response_buffer)));
  EXPECT_EQ(response.payload(), "generic to typed");
  ExpectPath(1, context);
}

TEST_P(GenericStubOnTypedServiceTest, BidiStream) {
  ::grpc::GenericStub stub(channel_);
  ::grpc::CompletionQueue queue;
  ClientContext context;
  SetHangDeadline(&context);
  auto call = stub.PrepareCall(&context, "/notnets.test.TestService/Bidi", &queue);
  void* tag;
  bool ok = false;
  call->StartCall(&queue);
  ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
  for (uint32_t i = 0; i < 3; ++i) {
    StreamMessage sent;
    sent.set_sequence(i);
    sent.set_payload("bidi " + std::to_string(i));
    call->Write(Buffer(sent.SerializeAsString()), &queue);
    ASSERT_TRUE(queue.Next(&tag, &ok) && ok) << i;
    ByteBuffer received;
    call->Read(&received, &queue);
    ASSERT_TRUE(queue.Next(&tag, &ok) && ok) << i;
    StreamMessage parsed;
    ASSERT_TRUE(parsed.ParseFromString(Bytes(received)));
    EXPECT_EQ(parsed.payload(), sent.payload());
  }
  call->WritesDone(&queue);
  ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
  Status status;
  call->Finish(&status, &queue);
  ASSERT_TRUE(queue.Next(&tag, &ok) && ok);
  EXPECT_TRUE(status.ok()) << status.error_message();
  ExpectPath(1, context);
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
}

// Not a generic call, in this fixture for its server: a typed stub's call to its service by name
// has a peer() that names the pool too.
TEST_P(GenericStubOnTypedServiceTest, TypedStubPeerNamesThePool) {
  auto stub = TestService::NewStub(channel_);
  EchoRequest request;
  request.set_payload("typed");
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  Status status = stub->Echo(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.payload(), "typed");
  if (GetParam() == Path::kPool) {
    const auto& metadata = context.GetServerInitialMetadata();
    auto peer = metadata.find(notnets::grpc::kPoolPeerKey);
    ASSERT_NE(peer, metadata.end());
    EXPECT_EQ(context.peer(), std::string(peer->second.data(), peer->second.size()));
  }
  ExpectPath(1, context);
}

INSTANTIATE_TEST_SUITE_P(Paths, GenericStubOnTypedServiceTest,
                         ::testing::Values(Path::kPool, Path::kHttp2),
                         [](const ::testing::TestParamInfo<Path>& info) {
                           return std::string(info.param == Path::kPool ? "Pool" : "Http2");
                         });

// A server with a generic service beside an unrelated one in the same pool: a callback server,
// all of whose services are in the pool by name, answers the methods it does not have through
// gRPC's own generic service, which serves nothing; it must not take the pool's calls by full
// name, which are the generic server's.
TEST(GenericServiceBesideOtherServersTest, CallsByNameReachTheGenericService) {
  std::string pool_name = notnets::testing::UniquePoolName("grpcgenbeside");
  notnets::grpc::ServerOptions options;
  options.pool = pool_name;
  ServerObservations observations;
  CallbackTestService typed(&observations);
  ::grpc::ServerBuilder typed_builder;
  typed_builder.RegisterService(&typed);
  notnets::grpc::ServeOverPool(&typed_builder, options);
  std::unique_ptr<::grpc::Server> typed_server = typed_builder.BuildAndStart();
  ASSERT_NE(typed_server, nullptr);
  CallbackEcho echo;
  ::grpc::ServerBuilder generic_builder;
  generic_builder.RegisterCallbackGenericService(&echo);
  notnets::grpc::ServeOverPool(&generic_builder, options);
  std::unique_ptr<::grpc::Server> generic_server = generic_builder.BuildAndStart();
  ASSERT_NE(generic_server, nullptr);

  notnets::grpc::ChannelOptions channel_options;
  channel_options.pool = pool_name;
  std::shared_ptr<::grpc::Channel> channel = notnets::grpc::CreateChannel("", channel_options);
  ::grpc::GenericStub stub(channel);
  const std::string method = "/notnets.test.Unbound/Echo";
  ByteBuffer request = Buffer("to the generic service");
  ByteBuffer response;
  ClientContext context;
  SetHangDeadline(&context);
  std::promise<Status> done;
  stub.UnaryCall(&context, method, ::grpc::StubOptions(), &request, &response,
                 [&done](Status status) { done.set_value(std::move(status)); });
  Status status = done.get_future().get();
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  EXPECT_EQ(Bytes(response), "to the generic service");
  auto served = context.GetServerInitialMetadata().find(kMethodKey);
  ASSERT_NE(served, context.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(served->second.data(), served->second.size()), method);

  channel.reset();
  generic_server->Shutdown();
  typed_server->Shutdown();
  generic_server.reset();
  typed_server.reset();
  notnets::Pool::Remove(pool_name);
}

}  // namespace
}  // namespace notnets::test
