// Destroying a grpc::Server while callback reactors still have work to do. gRPC's server returns
// from its destruction only once every reactor's OnDone ran, so a program may destroy the service
// right after it: over the pool the same must hold. Each test holds a reactor's OnDone until the
// server's destruction has either returned (wrong: OnDone would then run against a destroyed
// service) or had time to; OnDone then records whether the service still existed.
#include <atomic>
#include <chrono>
#include <functional>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "grpc_path_test.h"
#include "notnets/grpc/channel.h"
#include "notnets/grpc/server.h"
#include "notnets/pool.h"
#include "test_pool.h"

namespace notnets::test {
namespace {

using ::grpc::ClientContext;
using ::grpc::Status;
using ::grpc::StatusCode;

// How long a destruction that does not wait for OnDone is given to return. Only a wrong server
// returns at all while OnDone is held, so the bound never makes a correct one fail.
constexpr std::chrono::milliseconds kReturnBound{500};

// What the test and the reactors share; outlives the service.
struct State {
  std::latch started{1};                        // the reactor exists
  std::latch cancelled{1};                      // its OnCancel ran
  std::latch release{1};                        // OnDone may go on
  ::grpc::ServerUnaryReactor* unary = nullptr;  // written before `started`
  std::atomic<bool> service_destroyed{false};
  std::atomic<bool> done{false};
  std::atomic<bool> done_with_service{false};  // OnDone ran while the service existed
};

class LateService;

// OnDone waits for the test, then uses the service, as a reactor may.
template <class Reactor>
class HeldReactor : public Reactor {
 public:
  HeldReactor(State* state, LateService* service) : state_(state), service_(service) {}
  void OnCancel() override {
    state_->cancelled.count_down();
    OnCancelled();
  }
  void OnDone() override;

 protected:
  virtual void OnCancelled() {}
  State* const state_;

 private:
  LateService* const service_;
};

// Echo: a reactor the test finishes from its own thread. Bidi: a reactor that finishes only
// when cancelled.
class LateService final : public TestService::CallbackService {
 public:
  explicit LateService(State* state) : state_(state) {}
  ~LateService() override { state_->service_destroyed = true; }

  ::grpc::ServerUnaryReactor* Echo(::grpc::CallbackServerContext*, const EchoRequest*,
                                   EchoResponse*) override {
    auto* reactor = new HeldReactor<::grpc::ServerUnaryReactor>(state_, this);
    state_->unary = reactor;
    state_->started.count_down();
    return reactor;
  }

  ::grpc::ServerBidiReactor<StreamMessage, StreamMessage>* Bidi(
      ::grpc::CallbackServerContext*) override {
    class Reactor final
        : public HeldReactor<::grpc::ServerBidiReactor<StreamMessage, StreamMessage>> {
     public:
      using HeldReactor::HeldReactor;

     private:
      void OnCancelled() override { Finish(Status(StatusCode::CANCELLED, "server going")); }
    };
    auto* reactor = new Reactor(state_, this);
    state_->started.count_down();
    return reactor;
  }

  void Used() { ++uses_; }

 private:
  State* const state_;
  int uses_ = 0;
};

template <class Reactor>
void HeldReactor<Reactor>::OnDone() {
  state_->release.wait();
  // A use-after-free under ASan when the service is gone.
  service_->Used();
  state_->done_with_service = !state_->service_destroyed;
  state_->done = true;
  delete this;
}

class TeardownTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    pool_name_ = notnets::testing::UniquePoolName("teardown");
    service_ = std::make_unique<LateService>(&state_);
    StartServer(GetParam().path, pool_name_, service_.get(), &server_, &channel_);
    ASSERT_NE(server_, nullptr);
    stub_ = TestService::NewStub(channel_);
  }

  void TearDown() override {
    stub_.reset();
    channel_.reset();
    notnets::Pool::Remove(pool_name_);
  }

  // On another thread, shuts the server down with a deadline already passed (gRPC then cancels
  // the calls in flight), destroys it, then the service. Checks that this waits for the held
  // OnDone, then lets OnDone run and waits for the whole.
  void DestroyServerAndService() {
    std::atomic<bool> destroyed{false};
    std::thread destroyer([&] {
      server_->Shutdown(std::chrono::system_clock::now());
      server_.reset();
      service_.reset();
      destroyed = true;
    });
    EXPECT_FALSE(Eventually([&] { return destroyed.load(); }, kReturnBound))
        << "the grpc::Server's destruction returned before a reactor's OnDone ran";
    state_.release.count_down();
    destroyer.join();
    EXPECT_TRUE(state_.done);
    EXPECT_TRUE(state_.done_with_service) << "OnDone ran after the service was destroyed";
  }

  State state_;
  std::unique_ptr<LateService> service_;
  std::unique_ptr<::grpc::Server> server_;
  std::shared_ptr<::grpc::Channel> channel_;
  std::unique_ptr<TestService::Stub> stub_;

 private:
  std::string pool_name_;
};

INSTANTIATE_TEST_SUITE_P(Variants, TeardownTest,
                         ::testing::Values(Variant{Path::kPool, Flavor::kCallback},
                                           Variant{Path::kHttp2, Flavor::kCallback}),
                         VariantName);

TEST_P(TeardownTest, UnaryFinishedFromAnotherThreadIsDoneBeforeTheServerIsGone) {
  EchoRequest request;
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  CallDone call;
  stub_->async()->Echo(&context, &request, &response, [&call](Status status) { call.Set(status); });
  state_.started.wait();
  // The reactor's thread may be the one to run OnDone, and so be held there.
  std::thread finisher([this] { state_.unary->Finish(Status::OK); });
  Status status = call.Wait();
  EXPECT_TRUE(status.ok()) << status.error_message();
  DestroyServerAndService();
  finisher.join();
}

TEST_P(TeardownTest, UnaryInFlightIsCancelledAndFinishedLate) {
  EchoRequest request;
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  CallDone call;
  stub_->async()->Echo(&context, &request, &response, [&call](Status status) { call.Set(status); });
  state_.started.wait();
  // Finishes once the server's shutdown cancelled the call, from a thread of the service's own.
  std::thread finisher([this] {
    state_.cancelled.wait();
    state_.unary->Finish(Status(StatusCode::CANCELLED, "server going"));
  });
  DestroyServerAndService();
  finisher.join();
  EXPECT_FALSE(call.Wait().ok());
}

TEST_P(TeardownTest, StreamLeftOpenByTheClientIsCancelledAndDone) {
  ClientContext context;
  SetHangDeadline(&context);
  auto stream = stub_->Bidi(&context);
  StreamMessage message = NumberedMessage(0, 10);
  EXPECT_TRUE(stream->Write(message));
  state_.started.wait();
  DestroyServerAndService();
  context.TryCancel();
  EXPECT_FALSE(stream->Finish().ok());
}

// A service whose Echo destroys something in its reactor's OnSendInitialMetadataDone, before it
// finishes: over the pool that reaction runs on the thread that runs deferred reactions, those
// of every server's streams included.
class DestroyingService final : public TestService::CallbackService {
 public:
  explicit DestroyingService(std::function<void()> destroy) : destroy_(std::move(destroy)) {}

  ::grpc::ServerUnaryReactor* Echo(::grpc::CallbackServerContext*, const EchoRequest*,
                                   EchoResponse*) override {
    class Reactor final : public ::grpc::ServerUnaryReactor {
     public:
      explicit Reactor(const std::function<void()>* destroy) : destroy_(destroy) {
        StartSendInitialMetadata();
      }

     private:
      void OnSendInitialMetadataDone(bool) override {
        (*destroy_)();
        Finish(Status::OK);
      }
      void OnDone() override { delete this; }
      const std::function<void()>* destroy_;
    };
    return new Reactor(&destroy_);
  }

 private:
  std::function<void()> destroy_;
};

TEST_P(TeardownTest, DestroyedFromAnotherServersReaction) {
  // The stream's OnDone, which the destruction waits for, is a reaction of the same kind as the
  // one the destruction runs in.
  state_.release.count_down();
  ClientContext stream_context;
  SetHangDeadline(&stream_context);
  auto stream = stub_->Bidi(&stream_context);
  EXPECT_TRUE(stream->Write(NumberedMessage(0, 10)));
  state_.started.wait();

  std::string other_pool = notnets::testing::UniquePoolName("teardown-other");
  DestroyingService other([this] {
    server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    service_.reset();
  });
  ::grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("localhost:0", ::grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&other);
  if (GetParam().path == Path::kPool) {
    notnets::grpc::ServerOptions options;
    options.pool = other_pool;
    notnets::grpc::ServeOverPool(&builder, &other, options);
  }
  std::unique_ptr<::grpc::Server> other_server = builder.BuildAndStart();
  ASSERT_NE(other_server, nullptr);
  notnets::grpc::ChannelOptions options;
  options.pool = other_pool;
  auto other_stub = TestService::NewStub(
      notnets::grpc::CreateChannel("localhost:" + std::to_string(port), options));

  ClientContext context;
  SetHangDeadline(&context);
  EchoRequest request;
  EchoResponse response;
  Status status = other_stub->Echo(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_TRUE(state_.service_destroyed);
  EXPECT_TRUE(state_.done);
  EXPECT_TRUE(state_.done_with_service) << "OnDone ran after the service was destroyed";

  stream_context.TryCancel();
  EXPECT_FALSE(stream->Finish().ok());
  other_stub.reset();
  other_server->Shutdown();
  other_server.reset();
  notnets::Pool::Remove(other_pool);
}

}  // namespace
}  // namespace notnets::test
