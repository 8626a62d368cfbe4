// The native RPC API with client and server in one process (each with its own mapping of the
// pool, so nothing can work by sharing pointers). Runs under ThreadSanitizer.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "channel/connection_report.h"
#include "gtest/gtest.h"
#include "notnets/channel.h"
#include "notnets/server.h"
#include "pool/allocator.h"
#include "pool/block.h"
#include "pool/directory.h"
#include "pool/pool_access.h"
#include "pool/visibility_recorder.h"
#include "shadow_memory.h"
#include "test_pool.h"

namespace notnets {
namespace {

using namespace std::chrono_literals;
using testing::TestPool;

class RpcTest : public ::testing::Test {
 protected:
  explicit RpcTest(const PoolOptions& options = PoolOptions(), int workers = 2)
      : test_pool_(options), service_("test.Echo"), workers_(workers) {
    service_.AddMethod("Echo", [](ServerContext* context, const ReceivedMessage& request,
                                  ServerResponse* response) {
      for (const auto& [key, value] : context->client_metadata()) {
        context->AddInitialMetadata("init-" + key, value);
        context->AddTrailingMetadata("echo-" + key, value);
      }
      response->Copy(request.view());
      return Status::OK;
    });
    service_.AddMethod("EchoZeroCopy", [](ServerContext*, const ReceivedMessage& request,
                                          ServerResponse* response) {
      MessageBuffer buffer;
      Status status = response->Allocate(request.size(), &buffer);
      if (!status.ok()) return status;
      std::memcpy(buffer.data(), request.data(), request.size());
      response->Send(std::move(buffer));
      return Status::OK;
    });
    service_.AddMethod(
        "Sleep", [this](ServerContext* context, const ReceivedMessage& request, ServerResponse*) {
          sleeps_started_.fetch_add(1);
          auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(std::stoi(std::string(request.view())));
          while (std::chrono::steady_clock::now() < until) {
            if (context->IsCancelled()) {
              handler_saw_cancel_ = true;
              return Status(StatusCode::CANCELLED, "handler saw cancellation");
            }
            std::this_thread::sleep_for(1ms);
          }
          return Status::OK;
        });
    service_.AddMethod(
        "Status", [](ServerContext*, const ReceivedMessage& request, ServerResponse*) {
          int code = std::stoi(std::string(request.view()));
          return Status(static_cast<StatusCode>(code), "status " + std::to_string(code));
        });
    service_.AddMethod(
        "Count", [this](ServerContext*, const ReceivedMessage& request, ServerResponse* response) {
          response->Copy(std::string(request.view()) + " #" + std::to_string(++count_));
          return Status::OK;
        });
    service_.AddMethod(
        "Hold", [this](ServerContext*, const ReceivedMessage& request, ServerResponse* response) {
          std::unique_lock<std::mutex> lock(hold_mutex_);
          ++holding_;
          hold_changed_.notify_all();
          hold_changed_.wait(lock, [this] { return !hold_; });
          response->Copy(request.view());
          return Status::OK;
        });
    service_.AddMethod("Throw",
                       [](ServerContext*, const ReceivedMessage&, ServerResponse*) -> Status {
                         throw std::runtime_error("boom");
                       });
  }

  void SetUp() override {
    ASSERT_TRUE(Pool::Attach(test_pool_.name(), &server_pool_).ok());
    ASSERT_TRUE(Pool::Attach(test_pool_.name(), &client_pool_).ok());
    baseline_used_ = test_pool_.pool()->Stats().heap_used_bytes;
    ASSERT_TRUE(ServerBuilder(server_pool_)
                    .RegisterService(&service_)
                    .SetWorkerThreads(workers_)
                    .BuildAndStart(&server_)
                    .ok());
    ASSERT_TRUE(Channel::Connect(client_pool_, "test.Echo", ChannelOptions(), &channel_).ok());
  }

  void TearDown() override {
    channel_.reset();
    if (server_) server_->Shutdown();
    server_.reset();
    EXPECT_EQ(test_pool_.pool()->Stats().heap_used_bytes, baseline_used_) << "pool memory leaked";
  }

  TestPool test_pool_;
  Service service_;
  std::shared_ptr<Pool> server_pool_, client_pool_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<Channel> channel_;
  std::atomic<bool> handler_saw_cancel_{false};
  std::atomic<int> sleeps_started_{0};  // calls of "Sleep" that reached their handler
  std::atomic<int> count_{0};
  uint64_t baseline_used_ = 0;
  const int workers_;
  // "Hold" handlers wait while `hold_` is set; `holding_` counts those that started.
  std::mutex hold_mutex_;
  std::condition_variable hold_changed_;
  bool hold_ = true;
  int holding_ = 0;
};

// Waits (without bound: a hang is the failure) until `count` reaches `target`.
class Countdown {
 public:
  explicit Countdown(int target) : left_(target) {}
  void Done() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--left_ == 0) zero_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    zero_.wait(lock, [this] { return left_ <= 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable zero_;
  int left_;
};

// Chains of asynchronous calls, each started from the callback of the one before, as a pipelined
// client makes them. Each request is distinct (inline or in a block, by its length), so a
// response given to the wrong call shows.
class Chains {
 public:
  Chains(Channel* channel, int chains, int calls_per_chain, bool call_callback)
      : channel_(channel),
        calls_per_chain_(calls_per_chain),
        call_callback_(call_callback),
        states_(chains),
        finished_(chains) {}

  // Runs every chain to its end; returns the first failure.
  Status Run() {
    for (size_t chain = 0; chain < states_.size(); ++chain) Next(chain);
    finished_.Wait();
    std::lock_guard<std::mutex> lock(mutex_);
    return first_failure_;
  }
  int completed() const { return completed_.load(); }

 private:
  struct State {
    int call = 0;
    std::string request;
    std::unique_ptr<ClientContext> context;
  };

  void Next(size_t chain) {
    State& state = states_[chain];
    if (state.call == calls_per_chain_) {
      finished_.Done();
      return;
    }
    state.request = std::to_string(chain) + "/" + std::to_string(state.call) +
                    std::string(static_cast<size_t>(state.call % 3) * 20, '.');
    state.context = std::make_unique<ClientContext>();
    ++state.call;
    auto done = [this, chain](CallResult result) { Done(chain, std::move(result)); };
    if (call_callback_) {
      channel_->CallAsync("Echo", state.request, state.context.get(), CallCallback(done));
    } else {
      channel_->CallAsync("Echo", state.request, state.context.get(), done);
    }
  }

  void Done(size_t chain, CallResult result) {
    ++completed_;
    if (!result.status.ok() || result.response.view() != states_[chain].request) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (first_failure_.ok()) {
        first_failure_ = !result.status.ok() ? result.status
                                             : Status(StatusCode::DATA_LOSS,
                                                      "chain " + std::to_string(chain) + " got '" +
                                                          std::string(result.response.view()) +
                                                          "' for '" + states_[chain].request + "'");
      }
    }
    Next(chain);
  }

  Channel* const channel_;
  const int calls_per_chain_;
  const bool call_callback_;
  std::vector<State> states_;  // each touched only by its chain's calls, one after another
  Countdown finished_;
  std::atomic<int> completed_{0};
  std::mutex mutex_;
  Status first_failure_;
};

TEST_F(RpcTest, EchoesInlineAndBlockPayloads) {
  for (size_t size : {0, 1, 24, 25, 1000, 100000}) {
    std::string request(size, 'a');
    for (size_t i = 0; i < size; ++i) request[i] = static_cast<char>('a' + i % 26);
    std::string response;
    ClientContext context;
    Status status = channel_->Call("Echo", request, &response, &context);
    ASSERT_TRUE(status.ok()) << status.ToString();
    EXPECT_EQ(response, request);
    EXPECT_EQ(context.peer(), "notnets:" + client_pool_->path() + "/test.Echo");
  }
}

// The client counts its calls on the connection's block (ConnectionCounters), where
// `notnets top` finds them by walking the heap.
TEST_F(RpcTest, TheClientCountsItsCallsForEachConnection) {
  constexpr int kOk = 5, kFailed = 2;
  for (int i = 0; i < kOk + kFailed; ++i) {
    std::string response;
    ClientContext context;
    bool ok = i < kOk;
    EXPECT_EQ(channel_->Call(ok ? "Echo" : "Status", ok ? "hello" : "5", &response, &context)
                  .error_code(),
              ok ? StatusCode::OK : StatusCode::NOT_FOUND);
  }
  internal::PoolMapping* mapping = &internal::PoolAccess::mapping(*client_pool_);
  internal::Allocator allocator(mapping);
  internal::Directory directory(mapping, &allocator);
  internal::ServiceView view;
  ASSERT_TRUE(directory.Lookup("test.Echo", &view).ok());
  std::vector<internal::ConnectionReport> reports =
      internal::ReadConnectionReports(allocator, view.ref);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].client_pid, ::getpid());
  EXPECT_EQ(reports[0].calls_answered, uint64_t{kOk + kFailed});
  EXPECT_EQ(reports[0].calls_failed, uint64_t{kFailed});
  uint64_t timed = 0;
  for (uint64_t count : reports[0].latency) timed += count;
  // Each slot times its first call: the channel's calls reused at most a few slots.
  EXPECT_GE(timed, 1u);
  EXPECT_LE(timed, uint64_t{kOk + kFailed});
}

TEST_F(RpcTest, ZeroCopyRequestAndResponse) {
  MessageBuffer buffer;
  ASSERT_TRUE(channel_->AllocateMessage(5000, &buffer).ok());
  ASSERT_GE(buffer.capacity(), 5000u);
  for (size_t i = 0; i < 5000; ++i) buffer.data()[i] = static_cast<uint8_t>(i * 7);
  ReceivedMessage response;
  ClientContext context;
  ASSERT_TRUE(channel_->Call("EchoZeroCopy", std::move(buffer), &response, &context).ok());
  ASSERT_EQ(response.size(), 5000u);
  for (size_t i = 0; i < 5000; ++i) ASSERT_EQ(response.data()[i], static_cast<uint8_t>(i * 7));
}

TEST_F(RpcTest, LargeMessages) {
  std::string request(8 << 20, 'x');
  request[12345] = 'y';
  std::string response;
  ClientContext context;
  ASSERT_TRUE(channel_->Call("Echo", request, &response, &context).ok());
  EXPECT_EQ(response, request);
}

TEST_F(RpcTest, MessageLargerThanTheArenaIsResourceExhaustedNamingTheOption) {
  std::string request(128 << 20, 'x');
  std::string response;
  ClientContext context;
  Status status = channel_->Call("Echo", request, &response, &context);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("raise ChannelOptions::connection_arena_bytes"),
            std::string::npos)
      << status.ToString();
  ClientContext again;
  EXPECT_TRUE(channel_->Call("Echo", "still works", &response, &again).ok());
}

TEST_F(RpcTest, MessageLargerThanThePoolIsResourceExhaustedWithoutArenas) {
  ChannelOptions options;
  options.connection_arena_bytes = 0;
  std::shared_ptr<Channel> channel;
  ASSERT_TRUE(Channel::Connect(client_pool_, "test.Echo", options, &channel).ok());
  std::string request(128 << 20, 'x');
  std::string response;
  ClientContext context;
  Status status = channel->Call("Echo", request, &response, &context);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("larger size"), std::string::npos);
  ClientContext again;
  EXPECT_TRUE(channel->Call("Echo", "still works", &response, &again).ok());
}

TEST_F(RpcTest, PayloadsAndMetadataOfAConnectionWithArenasLeaveThePoolHeapAlone) {
  uint64_t used_before = test_pool_.pool()->Stats().heap_used_bytes;
  MessageBuffer buffer;
  ASSERT_TRUE(channel_->AllocateMessage(100000, &buffer).ok());
  std::memset(buffer.data(), 'a', 100000);
  ReceivedMessage response;
  ClientContext context;
  context.AddMetadata("user", "alice");
  ASSERT_TRUE(channel_->Call("EchoZeroCopy", std::move(buffer), &response, &context).ok());
  std::string copied;
  ClientContext copy_context;
  ASSERT_TRUE(channel_->Call("Echo", std::string(50000, 'b'), &copied, &copy_context).ok());
  // Held in place in the server's arena, as the request was in this client's.
  EXPECT_EQ(response.view(), std::string(100000, 'a'));
  EXPECT_EQ(copied, std::string(50000, 'b'));
  EXPECT_EQ(test_pool_.pool()->Stats().heap_used_bytes, used_before);
}

TEST_F(RpcTest, AFullArenaIsResourceExhaustedUntilItsReceiverReleasesMessages) {
  ChannelOptions options;
  options.connection_arena_bytes = 16 << 10;
  std::shared_ptr<Channel> channel;
  ASSERT_TRUE(Channel::Connect(client_pool_, "test.Echo", options, &channel).ok());
  // Each response takes a block of 4 KiB of the server's arena until this client releases it.
  std::vector<ReceivedMessage> held;
  Status status;
  while (status.ok() && held.size() < 8) {
    MessageBuffer buffer;
    ASSERT_TRUE(channel->AllocateMessage(3000, &buffer).ok());
    std::memset(buffer.data(), 'h', 3000);
    ReceivedMessage response;
    ClientContext context;
    status = channel->Call("EchoZeroCopy", std::move(buffer), &response, &context);
    if (status.ok()) held.push_back(std::move(response));
  }
  EXPECT_EQ(held.size(), 4u) << status.ToString();
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.ToString();
  EXPECT_NE(status.error_message().find("raise ChannelOptions::connection_arena_bytes"),
            std::string::npos)
      << status.ToString();
  for (const ReceivedMessage& message : held) EXPECT_EQ(message.view(), std::string(3000, 'h'));
  // Released into this client's own segment, taken back by the server: its arena is free again.
  held.clear();
  for (int i = 0; i < 8; ++i) {
    std::string response;
    ClientContext context;
    ASSERT_TRUE(channel->Call("Echo", std::string(3000, 'e'), &response, &context).ok()) << i;
    EXPECT_EQ(response, std::string(3000, 'e'));
  }
}

TEST_F(RpcTest, MetadataBothWays) {
  ClientContext context;
  context.AddMetadata("user", "alice");
  context.AddMetadata("trace-bin", std::string("\0\x01\xfe", 3));
  std::string response;
  ASSERT_TRUE(channel_->Call("Echo", "hi", &response, &context).ok());
  const Metadata& trailing = context.GetServerTrailingMetadata();
  ASSERT_EQ(trailing.count("echo-user"), 1u);
  EXPECT_EQ(trailing.find("echo-user")->second, "alice");
  EXPECT_EQ(trailing.find("echo-trace-bin")->second, std::string("\0\x01\xfe", 3));
  EXPECT_EQ(context.GetServerInitialMetadata().find("init-user")->second, "alice");
}

TEST_F(RpcTest, EveryStatusCodeArrivesWithItsMessage) {
  for (int code = 1; code <= 16; ++code) {
    ClientContext context;
    std::string response;
    Status status = channel_->Call("Status", std::to_string(code), &response, &context);
    EXPECT_EQ(static_cast<int>(status.error_code()), code);
    EXPECT_EQ(status.error_message(), "status " + std::to_string(code));
  }
}

TEST_F(RpcTest, HandlerExceptionIsUnknown) {
  ClientContext context;
  std::string response;
  Status status = channel_->Call("Throw", "", &response, &context);
  EXPECT_EQ(status.error_code(), StatusCode::UNKNOWN);
  EXPECT_NE(status.error_message().find("boom"), std::string::npos);
}

TEST_F(RpcTest, UnknownMethodIsUnimplemented) {
  ClientContext context;
  std::string response;
  Status status = channel_->Call("NoSuchMethod", "", &response, &context);
  EXPECT_EQ(status.error_code(), StatusCode::UNIMPLEMENTED);
  EXPECT_NE(status.error_message().find("NoSuchMethod"), std::string::npos);
}

TEST_F(RpcTest, AConnectionOverItsMemoryQuotaIsResourceExhausted) {
  ChannelOptions options;
  options.max_memory_bytes = 64 << 10;
  std::shared_ptr<Channel> channel;
  ASSERT_TRUE(Channel::Connect(client_pool_, "test.Echo", options, &channel).ok());
  std::string response;
  ClientContext small;
  EXPECT_TRUE(channel->Call("Echo", std::string(20000, 's'), &response, &small).ok());
  ClientContext large;
  Status status = channel->Call("Echo", std::string(100000, 'l'), &response, &large);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.ToString();
  EXPECT_NE(status.error_message().find("ChannelOptions::max_memory_bytes"), std::string::npos)
      << status.ToString();
}

TEST_F(RpcTest, AProcessOverItsQuotasIsResourceExhausted) {
  PoolOptions options;
  options.max_process_connections = 2;
  options.max_process_memory_bytes = 200 << 10;
  std::shared_ptr<Pool> pool;
  ASSERT_TRUE(Pool::Attach(test_pool_.name(), options, &pool).ok());
  std::shared_ptr<Channel> first, second, third;
  ASSERT_TRUE(Channel::Connect(pool, "test.Echo", ChannelOptions(), &first).ok());
  ASSERT_TRUE(Channel::Connect(pool, "test.Echo", ChannelOptions(), &second).ok());
  Status status = Channel::Connect(pool, "test.Echo", ChannelOptions(), &third);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.ToString();
  EXPECT_NE(status.error_message().find("PoolOptions::max_process_connections"), std::string::npos)
      << status.ToString();
  // Two connections of 32 KiB leave 136 KiB: a 128 KiB block fits, a second does not.
  MessageBuffer held;
  ASSERT_TRUE(first->AllocateMessage(100000, &held).ok());
  std::string response;
  ClientContext context;
  status = second->Call("Echo", std::string(100000, 'p'), &response, &context);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.ToString();
  EXPECT_NE(status.error_message().find("PoolOptions::max_process_memory_bytes"), std::string::npos)
      << status.ToString();
  // A closed channel gives back its connection and its cache (where the buffer went, released):
  // the quota serves the call and another connection.
  held = MessageBuffer();
  first.reset();
  ClientContext again;
  EXPECT_TRUE(second->Call("Echo", std::string(100000, 'p'), &response, &again).ok());
  EXPECT_TRUE(Channel::Connect(pool, "test.Echo", ChannelOptions(), &third).ok());
}

// The server frees the block of a connection the client closed, and the next connection's
// allocation finds it free. Under the cache simulator (docs/noncoherent.md) this failed when the
// client stored its ownership of the block after allocating it and never wrote it back: the
// line, still dirty in the client's cache, reached memory at the next allocation's look at the
// freed block (or an eviction), over the server's "free", and the block stayed in use for good.
TEST_F(RpcTest, TheBlockOfAClosedConnectionIsFreeForTheNextOne) {
  const uint64_t used_before = test_pool_.pool()->Stats().heap_used_bytes;
  for (int connection = 0; connection < 2; ++connection) {
    std::shared_ptr<Channel> channel;
    ASSERT_TRUE(Channel::Connect(client_pool_, "test.Echo", ChannelOptions(), &channel).ok());
    std::string response;
    ClientContext context;
    ASSERT_TRUE(channel->Call("Echo", "accepted", &response, &context).ok());
    channel.reset();
    // The server frees the connection once it sees the client gone.
    auto give_up = std::chrono::steady_clock::now() + 10s;
    while (test_pool_.pool()->Stats().heap_used_bytes != used_before &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(test_pool_.pool()->Stats().heap_used_bytes, used_before)
        << "after connection " << connection;
  }
}

TEST_F(RpcTest, UnknownServiceIsUnavailable) {
  std::shared_ptr<Channel> channel;
  Status status = Channel::Connect(client_pool_, "no.Such", ChannelOptions(), &channel);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_NE(status.error_message().find("no.Such"), std::string::npos);
}

TEST_F(RpcTest, SecondServerForTheSameNameIsRefused) {
  std::unique_ptr<Server> second;
  Status status = ServerBuilder(server_pool_).RegisterService(&service_).BuildAndStart(&second);
  EXPECT_EQ(status.error_code(), StatusCode::ALREADY_EXISTS);
}

TEST_F(RpcTest, DeadlineExceededWhileTheHandlerRuns) {
  ClientContext context;
  // Long enough that the handler is running when it passes, also on a loaded machine.
  context.set_timeout(500ms);
  std::string response;
  Status status = channel_->Call("Sleep", "5000", &response, &context);
  EXPECT_EQ(status.error_code(), StatusCode::DEADLINE_EXCEEDED);
  // The handler sees the deadline (and the cancel that followed) and stops early.
  auto give_up = std::chrono::steady_clock::now() + 5s;
  while (!handler_saw_cancel_ && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(handler_saw_cancel_);
}

// A child forked without exec, while the parent's channel janitor runs, makes channels and calls
// of its own: it does not inherit the janitor's lock held, nor the parent's channels to look
// after. Many forks, so that some come while the janitor is at work.
TEST_F(RpcTest, ForkedChildrenMakeTheirOwnChannelsAndCalls) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer does not support starting threads after a multi-threaded fork";
#endif
  const uint64_t used_before = test_pool_.pool()->Stats().heap_used_bytes;
  for (int fork_number = 0; fork_number < 20; ++fork_number) {
    pid_t child = ::fork();
    if (child == 0) {
      std::shared_ptr<Channel> channel;
      std::string response;
      ClientContext context;
      context.set_timeout(10s);
      bool ok = Channel::Connect(client_pool_, "test.Echo", ChannelOptions(), &channel).ok() &&
                channel->Call("Echo", "from the child", &response, &context).ok() &&
                response == "from the child";
      ::_exit(ok ? 0 : 1);
    }
    ASSERT_GT(child, 0);
    int status = 0;
    auto give_up = std::chrono::steady_clock::now() + 30s;
    pid_t waited = 0;
    while ((waited = ::waitpid(child, &status, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(1ms);
    }
    if (waited == 0) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      FAIL() << "forked child " << fork_number << " hung";
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child " << fork_number;
  }
  std::string response;
  ClientContext context;
  EXPECT_TRUE(channel_->Call("Echo", "parent", &response, &context).ok());
  // The server frees the connections of the children, who exited without closing them.
  auto give_up = std::chrono::steady_clock::now() + 10s;
  while (test_pool_.pool()->Stats().heap_used_bytes != used_before &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(test_pool_.pool()->Stats().heap_used_bytes, used_before);
}

TEST_F(RpcTest, SystemClockDeadline) {
  ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 100ms);
  std::string response;
  EXPECT_EQ(channel_->Call("Sleep", "5000", &response, &context).error_code(),
            StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(RpcTest, ReceivedMessageMayOutliveItsChannel) {
  MessageBuffer buffer;
  ASSERT_TRUE(channel_->AllocateMessage(1000, &buffer).ok());
  std::memset(buffer.data(), 'q', 1000);
  ReceivedMessage response;
  ClientContext context;
  ASSERT_TRUE(channel_->Call("EchoZeroCopy", std::move(buffer), &response, &context).ok());
  MessageBuffer unsent;
  ASSERT_TRUE(channel_->AllocateMessage(1000, &unsent).ok());
  channel_.reset();
  EXPECT_EQ(response.view(), std::string(1000, 'q'));
}

TEST_F(RpcTest, GarbageFromTheClientClosesOnlyItsConnection) {
  // Blocks with headers a client can break are the pool's: a connection without arenas.
  ChannelOptions pool_blocks;
  pool_blocks.connection_arena_bytes = 0;
  channel_.reset();
  ASSERT_TRUE(Channel::Connect(client_pool_, "test.Echo", pool_blocks, &channel_).ok());
  std::shared_ptr<Channel> bystander;
  ASSERT_TRUE(Channel::Connect(client_pool_, "test.Echo", ChannelOptions(), &bystander).ok());
  MessageBuffer buffer;
  ASSERT_TRUE(channel_->AllocateMessage(1000, &buffer).ok());
  // Break the block's header the way a hostile client could, after "writing" the message.
  auto* header =
      reinterpret_cast<internal::BlockHeader*>(buffer.data() - internal::kBlockHeaderBytes);
  uint64_t format = header->format.load();
  header->format.store(format ^ (uint64_t{1} << 40));
  ReceivedMessage response;
  ClientContext context;
  Status status = channel_->Call("EchoZeroCopy", std::move(buffer), &response, &context);
  EXPECT_EQ(status.error_code(), StatusCode::INTERNAL);
  EXPECT_NE(status.error_message().find("closed the connection"), std::string::npos)
      << status.ToString();
  header->format.store(format);  // the block is ours again: let it go back to the pool
  // Another client was never affected, and this channel gets a new connection.
  std::string reply;
  ClientContext other;
  EXPECT_TRUE(bystander->Call("Echo", "fine", &reply, &other).ok());
  ClientContext again;
  status = channel_->Call("Echo", "again", &reply, &again);
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(reply, "again");
}

TEST_F(RpcTest, AtMostOnceRetryIsAnsweredFromTheWindow) {
  ClientContext context;
  context.set_at_most_once(true);
  std::string first, second;
  const std::string request = "a call that is long enough not to be inline";
  ASSERT_TRUE(channel_->Call("Count", request, &first, &context).ok());
  // A retry with the same context carries the same token: the handler does not run again.
  ASSERT_TRUE(channel_->Call("Count", request, &second, &context).ok());
  EXPECT_EQ(second, first);
  EXPECT_EQ(count_.load(), 1);
  ClientContext other;
  other.set_at_most_once(true);
  ASSERT_TRUE(channel_->Call("Count", "x", &second, &other).ok());
  EXPECT_EQ(second, "x #2");
  // The token never shows in the handler's metadata.
  ClientContext with_metadata;
  with_metadata.set_at_most_once(true);
  with_metadata.AddMetadata("k", "v");
  ASSERT_TRUE(channel_->Call("Echo", "m", &second, &with_metadata).ok());
  EXPECT_EQ(with_metadata.GetServerTrailingMetadata().size(), 1u);
  // The window keeps the long response in a pool block until the slot is reused.
  baseline_used_ += internal::BlockBytes(internal::SizeClassFor(first.size()));
}

TEST_F(RpcTest, DeadlineAlreadyPassedFailsWithoutSending) {
  ClientContext context;
  context.set_deadline(std::chrono::steady_clock::now() - 1s);
  std::string response;
  EXPECT_EQ(channel_->Call("Echo", "x", &response, &context).error_code(),
            StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(RpcTest, TryCancelFromAnotherThreadReachesTheHandler) {
  ClientContext context;
  std::thread canceller([&] {
    std::this_thread::sleep_for(50ms);
    context.TryCancel();
  });
  std::string response;
  Status status = channel_->Call("Sleep", "5000", &response, &context);
  canceller.join();
  EXPECT_EQ(status.error_code(), StatusCode::CANCELLED);
  auto give_up = std::chrono::steady_clock::now() + 5s;
  while (!handler_saw_cancel_ && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(handler_saw_cancel_);
}

TEST_F(RpcTest, AsyncCallbacksAndFutures) {
  constexpr int kCalls = 200;
  std::vector<std::unique_ptr<ClientContext>> contexts;
  std::vector<std::future<CallResult>> futures;
  for (int i = 0; i < kCalls; ++i) {
    contexts.push_back(std::make_unique<ClientContext>());
    futures.push_back(
        channel_->CallAsync("Echo", "call " + std::to_string(i), contexts.back().get()));
  }
  for (int i = 0; i < kCalls; ++i) {
    CallResult result = futures[i].get();
    ASSERT_TRUE(result.status.ok()) << result.status.ToString();
    EXPECT_EQ(result.response.view(), "call " + std::to_string(i));
  }
  std::promise<Status> done;
  ClientContext context;
  channel_->CallAsync("Status", "5", &context,
                      [&done](CallResult result) { done.set_value(result.status); });
  EXPECT_EQ(done.get_future().get().error_code(), StatusCode::NOT_FOUND);
}

TEST_F(RpcTest, ChainedAsyncCallsEachCompleteOnceWithTheirOwnResponse) {
  for (bool call_callback : {false, true}) {
    Chains chains(channel_.get(), 16, 300, call_callback);
    Status status = chains.Run();
    EXPECT_TRUE(status.ok()) << status.ToString();
    EXPECT_EQ(chains.completed(), 16 * 300);
  }
}

TEST_F(RpcTest, AsyncCallsCompleteOutOfOrder) {
  // The first call holds one worker until the second, on the other worker, has completed.
  ClientContext held_context, quick_context;
  std::promise<CallResult> held, quick;
  channel_->CallAsync("Hold", "held", &held_context, CallCallback([&held](CallResult result) {
                        held.set_value(std::move(result));
                      }));
  {
    std::unique_lock<std::mutex> lock(hold_mutex_);
    hold_changed_.wait(lock, [this] { return holding_ == 1; });
  }
  channel_->CallAsync("Echo", "quick", &quick_context, CallCallback([&quick](CallResult result) {
                        quick.set_value(std::move(result));
                      }));
  CallResult quick_result = quick.get_future().get();
  EXPECT_TRUE(quick_result.status.ok()) << quick_result.status.ToString();
  EXPECT_EQ(quick_result.response.view(), "quick");
  {
    std::lock_guard<std::mutex> lock(hold_mutex_);
    hold_ = false;
    hold_changed_.notify_all();
  }
  CallResult held_result = held.get_future().get();
  EXPECT_TRUE(held_result.status.ok()) << held_result.status.ToString();
  EXPECT_EQ(held_result.response.view(), "held");
}

TEST_F(RpcTest, CallbackMayCallSynchronouslyOnItsChannel) {
  // The callback's asynchronous call is held back until the callback returns; the synchronous
  // call after it must send it first, or the server could never reach the synchronous one.
  ClientContext first_context, second_context;
  std::promise<CallResult> second;
  Status nested;
  std::string nested_response;
  Countdown first_done(1);
  channel_->CallAsync("Echo", "first", &first_context, CallCallback([&](CallResult result) {
                        EXPECT_TRUE(result.status.ok()) << result.status.ToString();
                        channel_->CallAsync(
                            "Echo", "second", &second_context,
                            [&second](CallResult result) { second.set_value(std::move(result)); });
                        ClientContext context;
                        nested = channel_->Call("Echo", "nested", &nested_response, &context);
                        first_done.Done();
                      }));
  first_done.Wait();
  EXPECT_TRUE(nested.ok()) << nested.ToString();
  EXPECT_EQ(nested_response, "nested");
  CallResult result = second.get_future().get();
  EXPECT_TRUE(result.status.ok()) << result.status.ToString();
  EXPECT_EQ(result.response.view(), "second");
}

class SmallWindowRpcTest : public RpcTest {
 protected:
  void SetUp() override {
    RpcTest::SetUp();
    ChannelOptions options;
    options.max_outstanding_calls = 2;
    ASSERT_TRUE(Channel::Connect(client_pool_, "test.Echo", options, &channel_).ok());
  }
};

TEST_F(SmallWindowRpcTest, CallbackStartsMoreCallsThanTheChannelHasSlots) {
  // The third call waits for a slot that only a held-back call's response can free: waiting
  // sends what is held first.
  constexpr int kCalls = 7;
  ClientContext first_context;
  std::vector<std::unique_ptr<ClientContext>> contexts;
  std::vector<std::string> responses(kCalls);
  Countdown all(kCalls);
  channel_->CallAsync("Echo", "first", &first_context, CallCallback([&](CallResult) {
                        for (int i = 0; i < kCalls; ++i) {
                          contexts.push_back(std::make_unique<ClientContext>());
                          channel_->CallAsync("Echo", std::to_string(i), contexts.back().get(),
                                              CallCallback([&, i](CallResult result) {
                                                responses[i] = result.response.view();
                                                all.Done();
                                              }));
                        }
                      }));
  all.Wait();
  for (int i = 0; i < kCalls; ++i) EXPECT_EQ(responses[i], std::to_string(i));
}

class LoneWorkerRpcTest : public RpcTest {
 protected:
  LoneWorkerRpcTest() : RpcTest(PoolOptions(), /*workers=*/1) {}
};

TEST_F(LoneWorkerRpcTest, ChainedAsyncCallsEachCompleteOnceWithTheirOwnResponse) {
  // The lone worker handles the requests it finds in a row.
  Chains chains(channel_.get(), 32, 200, /*call_callback=*/true);
  Status status = chains.Run();
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(chains.completed(), 32 * 200);
}

TEST_F(RpcTest, AsyncDeadlineAndCancel) {
  ClientContext timed;
  timed.set_timeout(50ms);
  auto timed_result = channel_->CallAsync("Sleep", "5000", &timed);
  ClientContext cancelled;
  auto cancelled_result = channel_->CallAsync("Sleep", "5000", &cancelled);
  cancelled.TryCancel();
  EXPECT_EQ(timed_result.get().status.error_code(), StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(cancelled_result.get().status.error_code(), StatusCode::CANCELLED);
}

TEST_F(RpcTest, ManyThreadsShareOneChannel) {
  constexpr int kThreads = 4;
  constexpr int kCalls = 500;
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        std::string request = std::to_string(t) + ":" + std::to_string(i) +
                              std::string(static_cast<size_t>(i % 3) * 40, 'z');
        std::string response;
        ClientContext context;
        if (!channel_->Call("Echo", request, &response, &context).ok() || response != request) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(RpcTest, ServerShutdownMakesCallsUnavailable) {
  ClientContext context;
  context.set_timeout(10s);
  auto pending = channel_->CallAsync("Sleep", "300", &context);
  // Shutdown lets running handlers finish: this one must be running first (however long the
  // connection's set-up takes, as under the cache simulator).
  auto give_up = std::chrono::steady_clock::now() + 10s;
  while (sleeps_started_ == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(sleeps_started_, 1);
  std::thread stopper([this] { server_->Shutdown(); });
  CallResult result = pending.get();
  stopper.join();
  // The running handler finished before shutdown completed; later calls fail fast.
  EXPECT_TRUE(result.status.ok()) << result.status.ToString();
  ClientContext after;
  std::string response;
  Status status = channel_->Call("Echo", "x", &response, &after);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_NE(status.error_message().find("test.Echo"), std::string::npos);
}

class NonCoherentRpcTest : public RpcTest {
 protected:
  static PoolOptions NonCoherent() {
    PoolOptions options;
    options.size_bytes = 8 << 20;
    options.coherence = CoherenceMode::kWriteBackInvalidate;
    return options;
  }
  NonCoherentRpcTest() : RpcTest(NonCoherent()) {}

  Status Echo(const std::string& request, const std::string& value, std::string* response) {
    ClientContext context;
    context.AddMetadata("k", value);
    Status status = channel_->Call("Echo", request, response, &context);
    if (status.ok()) {
      EXPECT_EQ(context.GetServerTrailingMetadata().find("echo-k")->second, value);
    }
    return status;
  }
};

TEST_F(NonCoherentRpcTest, CallsWorkWithWriteBackAndInvalidate) {
  for (size_t size : {5, 3000}) {
    std::string request(size, 'n');
    std::string response;
    ASSERT_TRUE(Echo(request, "v", &response).ok());
    EXPECT_EQ(response, request);
  }
}

// On coherent hardware a missing write-back or invalidate goes unseen, so this call runs under a
// model of memory without coherence (ShadowMemory; the client's and the server's mappings are
// its two hosts): every byte a side reads through Invalidate or Consume must be what its writer
// wrote back after its last store, and every range a side writes back must be invalidated by the
// other side afterwards. The call carries its request, response and metadata in blocks. The model
// sees the pools' mappings, not the connections' segments: the blocks are the pool's here
// (connection_arena_bytes = 0); an arena's order of primitives is ArenaTest's, and that a call
// through the arenas writes back and invalidates its bytes, ACallWritesBackOnlyWhatItHandsOver.
TEST_F(NonCoherentRpcTest, ACallWritesBackAndInvalidatesWhatItHandsOver) {
  ChannelOptions pool_blocks;
  pool_blocks.connection_arena_bytes = 0;
  channel_.reset();
  ASSERT_TRUE(Channel::Connect(client_pool_, "test.Echo", pool_blocks, &channel_).ok());
  std::string response;
  // The connection and the server's buffer caches exist before the model starts.
  ASSERT_TRUE(Echo(std::string(3000, 'w'), "warm-up", &response).ok());
  // The process's lease keeper renews the pools through the primitives at any moment, so it may
  // still be inside the model after Stop: the model is never freed (a static owns it), and such a
  // late call finishes on live memory.
  static auto* const model =
      new testing::ShadowMemory({client_pool_, server_pool_}, {"client", "server"});
  testing::ShadowMemory& shadow = *model;
  if (!shadow.Start()) {
    GTEST_SKIP() << "the library was built without its test hooks (NOTNETS_FAULT_INJECTION)";
  }
  std::string request(3000, '\0');
  for (size_t i = 0; i < request.size(); ++i) request[i] = static_cast<char>('a' + i % 23);
  Status status = Echo(request, "a value of its own, long enough to need the block", &response);
  shadow.Stop();
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(response, request);
  // Payload and metadata blocks, header and payload each, both ways.
  EXPECT_GE(shadow.WriteBackCount(), 8u);
  for (const std::string& stale : shadow.StaleReads()) ADD_FAILURE() << stale;
  for (const std::string& missing : shadow.UninvalidatedWriteBacks()) ADD_FAILURE() << missing;
}

// Counts the cache lines each primitive covers, and does what each promises (on this machine's
// coherent memory a store and a load suffice).
class LineCounter : public internal::VisibilityRecorder {
 public:
  void Publish(internal::SharedWord* word, uint64_t value) override {
    word->store(value, std::memory_order_release);
    published_.fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t Consume(const internal::SharedWord* word) override {
    consumed_.fetch_add(1, std::memory_order_relaxed);
    return word->load(std::memory_order_acquire);
  }
  void WriteBack(const void* data, size_t size) override {
    auto address = reinterpret_cast<uintptr_t>(data);
    for (const auto& [begin, end] : ignored_) {
      if (address >= begin && address < end) return;
    }
    written_back_.fetch_add(Lines(data, size), std::memory_order_relaxed);
  }
  void Invalidate(const void* data, size_t size) override {
    invalidated_.fetch_add(Lines(data, size), std::memory_order_relaxed);
  }

  // Leaves out the write-backs of the counters of `pool`'s services, whose server writes them
  // back every few milliseconds, however many calls that was. Call before setting the counter.
  void IgnoreCounters(Pool& pool) {
    auto base = reinterpret_cast<uintptr_t>(internal::PoolAccess::mapping(pool).At<uint8_t>(0));
    for (const auto& [begin, end] : testing::CountersRanges(pool)) {
      ignored_.emplace_back(base + begin, base + end);
    }
  }

  uint64_t published() const { return published_.load(); }
  uint64_t consumed() const { return consumed_.load(); }
  uint64_t written_back() const { return written_back_.load(); }
  uint64_t invalidated() const { return invalidated_.load(); }

 private:
  static uint64_t Lines(const void* data, size_t size) {
    auto first = reinterpret_cast<uintptr_t>(data) / internal::kCacheLineBytes;
    auto end = (reinterpret_cast<uintptr_t>(data) + size + internal::kCacheLineBytes - 1) /
               internal::kCacheLineBytes;
    return end - first;
  }

  std::vector<std::pair<uintptr_t, uintptr_t>> ignored_;  // [begin, end) addresses
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> consumed_{0};
  std::atomic<uint64_t> written_back_{0};
  std::atomic<uint64_t> invalidated_{0};
};

// What a call costs without coherence, in lines written back and invalidated (docs/PERFORMANCE.md
// quotes this test's output). The writers' share is fixed by the protocol, and bounded here;
// consumes include the polls of whichever side waited, so they are reported, not bounded. Work
// that depends on time rather than on calls (a server cooling a quiet connection, a buffer cache
// refilling after it) may land in any batch of calls, so the bound holds for the cheapest of
// several batches: a line the protocol adds to every call is in all of them.
TEST_F(NonCoherentRpcTest, ACallWritesBackOnlyWhatItHandsOver) {
  std::string response;
  ASSERT_TRUE(Echo(std::string(3000, 'w'), "warm-up", &response).ok());
  // As in the test above, the lease keeper may use the primitives at any moment: never freed.
  static auto* const counter = new LineCounter;
  counter->IgnoreCounters(*server_pool_);
  if (!internal::SetVisibilityRecorder(counter)) {
    GTEST_SKIP() << "the library was built without its test hooks (NOTNETS_FAULT_INJECTION)";
  }
  constexpr uint64_t kBatches = 5;
  constexpr uint64_t kCallsPerBatch = 200;
  // Per size, per batch: publishes, lines written back, consumes, lines invalidated per call.
  std::map<size_t, std::vector<std::array<double, 4>>> batches;
  for (size_t size : {size_t{11}, size_t{4096}}) {
    std::string request(size, 'c');
    for (uint64_t batch = 0; batch < kBatches; ++batch) {
      uint64_t before[4] = {counter->published(), counter->written_back(), counter->consumed(),
                            counter->invalidated()};
      for (uint64_t i = 0; i < kCallsPerBatch; ++i) {
        ClientContext context;
        ASSERT_TRUE(channel_->Call("Echo", request, &response, &context).ok());
      }
      batches[size].push_back({double(counter->published() - before[0]) / kCallsPerBatch,
                               double(counter->written_back() - before[1]) / kCallsPerBatch,
                               double(counter->consumed() - before[2]) / kCallsPerBatch,
                               double(counter->invalidated() - before[3]) / kCallsPerBatch});
    }
  }
  internal::SetVisibilityRecorder(nullptr);
  for (const auto& [size, figures] : batches) {
    auto cheapest =
        std::min_element(figures.begin(), figures.end(),
                         [](const auto& a, const auto& b) { return a[0] + a[1] < b[0] + b[1]; });
    std::printf(
        "%zu-byte echo, per call, both sides, cheapest of %llu batches of %llu calls: %.1f "
        "publishes, %.1f lines written back, %.1f consumes, %.1f lines invalidated\n",
        size, static_cast<unsigned long long>(kBatches),
        static_cast<unsigned long long>(kCallsPerBatch), (*cheapest)[0], (*cheapest)[1],
        (*cheapest)[2], (*cheapest)[3]);
    // Each way: the descriptor and the count of descriptors consumed (one Publish each) and, for
    // a payload too large for the descriptor, its lines and up to three block header lines (the
    // sender's publish, the receiver's taking it, the buffer caches' bookkeeping).
    uint64_t payload_lines = (size + internal::kCacheLineBytes - 1) / internal::kCacheLineBytes;
    double budget = 2 * (2 + (size <= kInlineMessageBytes ? 0 : payload_lines + 3));
    std::string all;
    for (const auto& batch : figures) all += " " + std::to_string(batch[0] + batch[1]);
    EXPECT_LE((*cheapest)[0] + (*cheapest)[1], budget)
        << size << " bytes; publishes plus lines written back per call, by batch:" << all;
  }
}

}  // namespace
}  // namespace notnets
