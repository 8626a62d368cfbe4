// ServerContext::peer(), auth_context() and TryCancel() in handlers of every server API that the
// pool serves directly (a Foo::Service's unary methods, a Foo::CallbackService), over the pool
// and over HTTP/2: peer() names the path and, over the pool, the caller, whom auth_context()
// carries as properties; TryCancel() ends the call CANCELLED for the client whatever the handler
// answers after it; a cancellation that comes while a callback method runs reaches its reactor.
// Bridged calls (a server with an interceptor of its user's) carry the caller in auth_context()
// too, to the interceptor and the handler, and no client can name a caller itself.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grpc_path_test.h"
#include "notnets/grpc/server.h"
#include "notnets/pool.h"
#include "test_pool.h"

namespace notnets::test {
namespace {

using ::grpc::CallbackServerContext;
using ::grpc::Status;
using ::grpc::StatusCode;

// The first value of `context`'s auth context property `name`, or "-".
std::string Property(const ::grpc::AuthContext& auth, const std::string& name) {
  std::vector<::grpc::string_ref> values = auth.FindPropertyValues(name);
  return values.empty() ? "-" : std::string(values[0].data(), values[0].size());
}

// A line of what `auth` says of the other party.
std::string PartyOf(const std::shared_ptr<const ::grpc::AuthContext>& auth) {
  if (auth == nullptr) return "no auth context";
  std::vector<::grpc::string_ref> identity = auth->GetPeerIdentity();
  return "type=" + Property(*auth, "transport_security_type") +
         " authenticated=" + (auth->IsPeerAuthenticated() ? "yes" : "no") + " identity=" +
         (identity.empty() ? "-" : std::string(identity[0].data(), identity[0].size())) +
         " name=" + auth->GetPeerIdentityPropertyName() + " gid=" + Property(*auth, "notnets_gid") +
         " pid=" + Property(*auth, "notnets_pid") +
         (Property(*auth, "notnets_host") != "-" ? " host" : "");
}

// What a handler learns of its caller: peer(), then a line of its auth_context().
std::string CallerOf(const ::grpc::ServerContextBase& context) {
  return context.peer() + "\n" + PartyOf(context.auth_context());
}

// Echo answers with what it learns of its caller (CallerOf); with try_cancel, TryCancel() first.
class PeerSyncService final : public TestService::Service {
  Status Echo(::grpc::ServerContext* context, const EchoRequest* request,
              EchoResponse* response) override {
    if (request->try_cancel()) context->TryCancel();
    response->set_payload(CallerOf(*context));
    return Status::OK;
  }

  // As PeerCallbackService::ServerStream (bridged: sync streaming methods need a core call).
  Status ServerStream(::grpc::ServerContext* context, const StreamRequest* request,
                      ::grpc::ServerWriter<StreamMessage>* writer) override {
    for (uint32_t i = 0; i < request->message_count(); ++i) {
      writer->Write(NumberedMessage(i, request->message_size()));
    }
    if (request->status_code() == static_cast<int>(StatusCode::CANCELLED)) context->TryCancel();
    return Status::OK;
  }
};

// How many reactors of PeerCallbackService::Echo saw OnCancel().
std::atomic<int> on_cancel_calls{0};

// Waits in the handler's method until the call is cancelled (or gives up after 30 s).
void WaitForCancellation(const ::grpc::ServerContextBase& context) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!context.IsCancelled() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

class PeerCallbackService final : public TestService::CallbackService {
  // With wait_for_cancel, the method itself waits for the cancellation, then returns a reactor
  // that finishes on OnCancel(), which gRPC runs once the method returned it.
  ::grpc::ServerUnaryReactor* Echo(CallbackServerContext* context, const EchoRequest* request,
                                   EchoResponse* response) override {
    if (request->wait_for_cancel()) {
      WaitForCancellation(*context);
      class FinishOnCancel final : public ::grpc::ServerUnaryReactor {
       public:
        void OnCancel() override {
          ++on_cancel_calls;
          Finish(Status(StatusCode::CANCELLED, "cancelled"));
        }
        void OnDone() override { delete this; }
      };
      return new FinishOnCancel;
    }
    if (request->try_cancel()) context->TryCancel();
    response->set_payload(CallerOf(*context));
    ::grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(Status::OK);
    return reactor;
  }

  // Writes message_count messages, then TryCancel() when status_code is CANCELLED, and
  // finishes OK.
  ::grpc::ServerWriteReactor<StreamMessage>* ServerStream(CallbackServerContext* context,
                                                          const StreamRequest* request) override {
    class Writer final : public ::grpc::ServerWriteReactor<StreamMessage> {
     public:
      Writer(CallbackServerContext* context, const StreamRequest& request)
          : context_(context), request_(request) {
        Next();
      }
      void OnWriteDone(bool ok) override {
        if (!ok) {
          Finish(Status(StatusCode::UNAVAILABLE, "the stream broke"));
          return;
        }
        Next();
      }
      void OnDone() override { delete this; }

     private:
      void Next() {
        if (sent_ < request_.message_count()) {
          message_ = NumberedMessage(sent_++, request_.message_size());
          StartWrite(&message_);
          return;
        }
        if (request_.status_code() == static_cast<int>(StatusCode::CANCELLED)) {
          context_->TryCancel();
        }
        Finish(Status::OK);
      }
      CallbackServerContext* context_;
      StreamRequest request_;
      StreamMessage message_;
      uint32_t sent_ = 0;
    };
    return new Writer(context, *request);
  }
};

enum class Api { kSync, kCallback };

struct ContextVariant {
  Path path;
  Api api;
};

// A server of the test service (StartServer), a channel and a stub to it, and their teardown.
template <class Param>
class ServedTest : public ::testing::TestWithParam<Param> {
 protected:
  void TearDown() override {
    stub_.reset();
    channel_.reset();
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    notnets::Pool::Remove(pool_name_);
  }

  std::string pool_name_ = notnets::testing::UniquePoolName("grpcctx");
  std::unique_ptr<::grpc::Server> server_;
  std::shared_ptr<::grpc::Channel> channel_;
  std::unique_ptr<TestService::Stub> stub_;
};

class ServerContextTest : public ServedTest<ContextVariant> {
 protected:
  void SetUp() override {
    if (GetParam().api == Api::kSync) {
      service_ = std::make_unique<PeerSyncService>();
    } else {
      service_ = std::make_unique<PeerCallbackService>();
    }
    StartServer(GetParam().path, pool_name_, service_.get(), &server_, &channel_);
    ASSERT_NE(server_, nullptr);
    stub_ = TestService::NewStub(channel_);
  }

  Status Echo(bool try_cancel, EchoResponse* response) {
    EchoRequest request;
    request.set_try_cancel(try_cancel);
    ::grpc::ClientContext context;
    SetHangDeadline(&context);
    return stub_->Echo(&context, request, response);
  }

  std::unique_ptr<::grpc::Service> service_;
};

INSTANTIATE_TEST_SUITE_P(Variants, ServerContextTest,
                         ::testing::Values(ContextVariant{Path::kPool, Api::kSync},
                                           ContextVariant{Path::kPool, Api::kCallback},
                                           ContextVariant{Path::kHttp2, Api::kSync},
                                           ContextVariant{Path::kHttp2, Api::kCallback}),
                         [](const ::testing::TestParamInfo<ContextVariant>& info) {
                           return std::string(info.param.path == Path::kPool ? "Pool_" : "Http2_") +
                                  (info.param.api == Api::kSync ? "Sync" : "Callback");
                         });

TEST_P(ServerContextTest, PeerNamesThePath) {
  EchoResponse response;
  Status status = Echo(false, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const std::string& peer = response.payload();
  EXPECT_FALSE(peer.empty());
  EXPECT_EQ(peer.rfind("notnets:", 0) == 0, GetParam().path == Path::kPool) << peer;
  notnets::grpc::PathCounters counters = notnets::grpc::GetPathCounters(*channel_);
  EXPECT_EQ(counters.pool_calls, GetParam().path == Path::kPool ? 1u : 0u);
}

// Over the pool, the caller's identity as the kernel recorded it reaches the handler as TLS
// client certificates would: in peer() and in an authenticated auth_context().
TEST_P(ServerContextTest, APoolCallCarriesTheCallersIdentity) {
  EchoResponse response;
  Status status = Echo(false, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const std::string& seen = response.payload();
  std::string uid = std::to_string(::geteuid());
  std::string gid = std::to_string(::getegid());
  std::string pid = std::to_string(::getpid());
  bool pool = GetParam().path == Path::kPool;
  EXPECT_EQ(seen.find("?uid=" + uid + "&gid=" + gid + "&pid=" + pid + "&host="),
            pool ? seen.find('?') : std::string::npos)
      << seen;
  EXPECT_EQ(seen.find("\ntype=notnets authenticated=yes identity=" + uid +
                      " name=notnets_uid gid=" + gid + " pid=" + pid) != std::string::npos,
            pool)
      << seen;
}

// The other way, a client learns whom its pool call reached as the handler learns its caller: in
// an authenticated auth_context() of its own context, whichever stub made the call. Over HTTP/2
// the auth context is gRPC's: an insecure channel, nothing authenticated.
TEST_P(ServerContextTest, APoolCallShowsTheClientTheServersIdentity) {
  std::string uid = std::to_string(::geteuid());
  std::string server = "type=notnets authenticated=yes identity=" + uid +
                       " name=notnets_uid gid=" + std::to_string(::getegid()) +
                       " pid=" + std::to_string(::getpid()) + " host";
  std::string expected = GetParam().path == Path::kPool ? server : "type=insecure authenticated=no";
  EchoRequest request;
  EchoResponse response;
  {
    ::grpc::ClientContext context;
    SetHangDeadline(&context);
    ASSERT_TRUE(stub_->Echo(&context, request, &response).ok());
    EXPECT_EQ(PartyOf(context.auth_context()).rfind(expected, 0), 0u)
        << "sync stub: " << PartyOf(context.auth_context());
  }
  {
    ::grpc::ClientContext context;
    SetHangDeadline(&context);
    std::promise<Status> done;
    stub_->async()->Echo(&context, &request, &response,
                         [&done](Status status) { done.set_value(std::move(status)); });
    ASSERT_TRUE(done.get_future().get().ok());
    EXPECT_EQ(PartyOf(context.auth_context()).rfind(expected, 0), 0u)
        << "callback stub: " << PartyOf(context.auth_context());
  }
  {
    ::grpc::ClientContext context;
    SetHangDeadline(&context);
    ::grpc::CompletionQueue queue;
    auto reader = stub_->AsyncEcho(&context, request, &queue);
    Status status;
    reader->Finish(&response, &status, &status);
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(queue.Next(&tag, &ok));
    ASSERT_TRUE(ok && status.ok()) << status.error_message();
    EXPECT_EQ(PartyOf(context.auth_context()).rfind(expected, 0), 0u)
        << "completion-queue stub: " << PartyOf(context.auth_context());
  }
  {
    StreamRequest stream_request;
    stream_request.set_message_count(2);
    stream_request.set_message_size(10);
    ::grpc::ClientContext context;
    SetHangDeadline(&context);
    auto reader = stub_->ServerStream(&context, stream_request);
    StreamMessage message;
    ASSERT_TRUE(reader->Read(&message));
    // The initial metadata came with the first message: so did the server's identity.
    EXPECT_EQ(PartyOf(context.auth_context()).rfind(expected, 0), 0u)
        << "server stream, first message: " << PartyOf(context.auth_context());
    while (reader->Read(&message)) {
    }
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(PartyOf(context.auth_context()).rfind(expected, 0), 0u)
        << "server stream: " << PartyOf(context.auth_context());
  }
}

TEST_P(ServerContextTest, TryCancelEndsTheCallCancelled) {
  EchoResponse response;
  Status status = Echo(true, &response);
  EXPECT_EQ(status.error_code(), StatusCode::CANCELLED) << status.error_message();
  EXPECT_TRUE(response.payload().empty()) << "the answer after TryCancel() was delivered";
  // The server keeps serving.
  status = Echo(false, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_P(ServerContextTest, TryCancelEndsAServerStreamCancelled) {
  StreamRequest request;
  request.set_message_count(3);
  request.set_message_size(10);
  request.set_status_code(static_cast<int>(StatusCode::CANCELLED));
  ::grpc::ClientContext context;
  SetHangDeadline(&context);
  auto reader = stub_->ServerStream(&context, request);
  StreamMessage message;
  while (reader->Read(&message)) {
  }
  Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::CANCELLED) << status.error_message();
}

// A cancellation (here the client's deadline) that comes while a callback unary method still
// runs: the reactor the method returns gets OnCancel(), and the server lives on.
TEST_P(ServerContextTest, ACancellationWhileTheMethodRunsReachesItsReactor) {
  if (GetParam().api != Api::kCallback) GTEST_SKIP() << "callback methods only";
  on_cancel_calls = 0;
  // A call first, so that the 200 ms below are not spent connecting (under the cache simulator
  // that takes longer).
  EchoResponse response;
  ASSERT_TRUE(Echo(false, &response).ok());
  EchoRequest request;
  request.set_wait_for_cancel(true);
  ::grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  EXPECT_EQ(stub_->Echo(&context, request, &response).error_code(), StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(Eventually([] { return on_cancel_calls == 1; }));
  EXPECT_TRUE(Echo(false, &response).ok());
}

// What the user's server interceptor saw of each call at POST_RECV_INITIAL_METADATA: the method,
// its auth_context() (PartyOf), and whether notnets' caller entry was still in the metadata.
struct InterceptedCalls {
  std::mutex mutex;
  std::vector<std::string> seen;
};

class AuthWatcher final : public ::grpc::experimental::Interceptor {
 public:
  AuthWatcher(::grpc::experimental::ServerRpcInfo* info, InterceptedCalls* calls)
      : info_(info), calls_(calls) {}
  void Intercept(::grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            ::grpc::experimental::InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* metadata = methods->GetRecvInitialMetadata();
      bool entry = metadata->find("notnets-bridged-caller") != metadata->end();
      std::lock_guard<std::mutex> lock(calls_->mutex);
      calls_->seen.push_back(std::string(info_->method()) + " " +
                             PartyOf(info_->server_context()->auth_context()) +
                             (entry ? " with the entry" : ""));
    }
    methods->Proceed();
  }

 private:
  ::grpc::experimental::ServerRpcInfo* const info_;
  InterceptedCalls* const calls_;
};

class AuthWatcherFactory final : public ::grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit AuthWatcherFactory(InterceptedCalls* calls) : calls_(calls) {}
  ::grpc::experimental::Interceptor* CreateServerInterceptor(
      ::grpc::experimental::ServerRpcInfo* info) override {
    return new AuthWatcher(info, calls_);
  }

 private:
  InterceptedCalls* const calls_;
};

// A server with an interceptor of its user's has every pool call bridged (through a gRPC core
// call of its own): the caller still reaches the interceptor and the handler in auth_context(),
// as for a call dispatched directly, and neither sees how notnets carried it.
class BridgedCallerTest : public ServedTest<Path> {
 protected:
  void SetUp() override {
    auto configure = [this](::grpc::ServerBuilder* builder) {
      std::vector<std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface>>
          factories;
      factories.push_back(std::make_unique<AuthWatcherFactory>(&intercepted_));
      builder->experimental().SetInterceptorCreators(std::move(factories));
    };
    StartServer(GetParam(), pool_name_, &service_, &server_, &channel_, {}, configure);
    ASSERT_NE(server_, nullptr);
    stub_ = TestService::NewStub(channel_);
  }
  // What the interceptor saw, one line per call.
  std::vector<std::string> Intercepted() {
    std::lock_guard<std::mutex> lock(intercepted_.mutex);
    return intercepted_.seen;
  }

  InterceptedCalls intercepted_;
  PeerSyncService service_;
};

INSTANTIATE_TEST_SUITE_P(Paths, BridgedCallerTest, ::testing::Values(Path::kPool, Path::kHttp2),
                         [](const ::testing::TestParamInfo<Path>& info) {
                           return info.param == Path::kPool ? "Pool" : "Http2";
                         });

TEST_P(BridgedCallerTest, TheCallerReachesTheInterceptorAndTheHandler) {
  std::string uid = std::to_string(::geteuid());
  std::string caller = "type=notnets authenticated=yes identity=" + uid +
                       " name=notnets_uid gid=" + std::to_string(::getegid()) +
                       " pid=" + std::to_string(::getpid()) + " host";
  std::string expected = GetParam() == Path::kPool ? caller
                                                   : "type=insecure authenticated=no identity=- "
                                                     "name= gid=- pid=-";
  EchoRequest request;
  EchoResponse response;
  ::grpc::ClientContext context;
  SetHangDeadline(&context);
  Status status = stub_->Echo(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::string handler_saw = response.payload().substr(response.payload().find('\n') + 1);
  EXPECT_EQ(handler_saw, expected);

  StreamRequest stream_request;
  stream_request.set_message_count(2);
  ::grpc::ClientContext stream_context;
  SetHangDeadline(&stream_context);
  auto reader = stub_->ServerStream(&stream_context, stream_request);
  StreamMessage message;
  while (reader->Read(&message)) {
  }
  ASSERT_TRUE(reader->Finish().ok());

  std::string service = "/" + std::string(TestService::service_full_name());
  EXPECT_EQ(Intercepted(), (std::vector<std::string>{service + "/Echo " + expected,
                                                     service + "/ServerStream " + expected}));
  notnets::grpc::PathCounters counters = notnets::grpc::GetPathCounters(*channel_);
  EXPECT_EQ(counters.pool_calls, GetParam() == Path::kPool ? 2u : 0u);
}

// A client that sends the entry itself to a server that serves over the pool and over HTTP/2 is
// taken for nobody on either path: without the secret of the server's process the entry names
// no caller (over the pool, the caller is the one the kernel recorded), and it is taken out all
// the same.
TEST(BridgedCallerForgeryTest, AClientCannotNameACallerItself) {
  std::string pool_name = notnets::testing::UniquePoolName("grpcforgedcaller");
  InterceptedCalls intercepted;
  PeerSyncService service;
  ::grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("localhost:0", ::grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  notnets::grpc::ServerOptions server_options;
  server_options.pool = pool_name;
  notnets::grpc::ServeOverPool(&builder, &service, server_options);
  std::vector<std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<AuthWatcherFactory>(&intercepted));
  builder.experimental().SetInterceptorCreators(std::move(factories));
  std::unique_ptr<::grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_NE(port, 0);
  notnets::grpc::ChannelOptions channel_options;
  channel_options.pool = pool_name;
  std::string caller = "type=notnets authenticated=yes identity=" + std::to_string(::geteuid());
  struct Path {
    std::shared_ptr<::grpc::Channel> channel;
    std::string expected;  // how the handler's auth_context() starts
  };
  std::vector<Path> paths = {{notnets::grpc::CreateChannel("", channel_options), caller},
                             {::grpc::CreateChannel("localhost:" + std::to_string(port),
                                                    ::grpc::InsecureChannelCredentials()),
                              "type=insecure authenticated=no"}};
  for (const Path& path : paths) {
    auto stub = TestService::NewStub(path.channel);
    for (const char* forged :
         {"0123456789abcdef0123456789abcdef:4242:4242:1:0000000000000000", "4242:4242:1:0", ""}) {
      EchoRequest request;
      EchoResponse response;
      ::grpc::ClientContext context;
      SetHangDeadline(&context);
      context.AddMetadata("notnets-bridged-caller", forged);
      Status status = stub->Echo(&context, request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      std::string handler_saw = response.payload().substr(response.payload().find('\n') + 1);
      EXPECT_EQ(handler_saw.rfind(path.expected, 0), 0u) << forged << ": " << handler_saw;
      EXPECT_EQ(handler_saw.find("4242"), std::string::npos) << forged << ": " << handler_saw;
    }
  }
  std::lock_guard<std::mutex> lock(intercepted.mutex);
  EXPECT_EQ(intercepted.seen.size(), 6u);
  for (const std::string& seen : intercepted.seen) {
    EXPECT_EQ(seen.find("with the entry"), std::string::npos) << seen;
    EXPECT_EQ(seen.find("4242"), std::string::npos) << seen;
  }
  server->Shutdown();
  notnets::Pool::Remove(pool_name);
}

}  // namespace
}  // namespace notnets::test
