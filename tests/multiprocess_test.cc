// Clients and servers as separate processes: the test process is the client (or only the
// conductor), and notnets_test_peer (NOTNETS_TEST_PEER) runs the server and extra clients.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "notnets/channel.h"
#include "notnets/pool.h"
#include "process_harness.h"

namespace notnets::process_test {

// Used by this file and stress_test.cc. Creates a pool, starts a server with `server_workers`
// workers, and runs one client process per element of `clients` at once, each element being the
// arguments after "client POOL": CALLS SEED THREADS [sync|async]. Expects every client to exit 0
// with all CALLS * THREADS calls matched, the server to stop cleanly on SIGTERM, and the pool's
// heap to be back where it started.
void RunClientProcesses(int server_workers, const std::vector<std::vector<std::string>>& clients,
                        milliseconds bound) {
  std::string pool_name = UniquePoolName();
  std::shared_ptr<Pool> pool;
  PoolOptions options;
  options.size_bytes = 128ull << 20;
  ASSERT_TRUE(Pool::Create(pool_name, options, &pool).ok());
  struct RemovePool {
    std::string name;
    ~RemovePool() { Pool::Remove(name); }
  } remove_pool{pool_name};
  uint64_t baseline = pool->Stats().heap_used_bytes;
  {
    std::unique_ptr<PeerProcess> server = StartServer(pool_name, server_workers);
    std::vector<std::unique_ptr<PeerProcess>> processes;
    for (const std::vector<std::string>& args : clients) {
      std::vector<std::string> full = {"client", pool_name};
      full.insert(full.end(), args.begin(), args.end());
      processes.push_back(std::make_unique<PeerProcess>(full));
    }
    // Collect the clients' output; a server that dies meanwhile fails the test at once.
    auto give_up = Clock::now() + bound;
    bool server_died = false;
    for (bool waiting = true; waiting && !server_died && Clock::now() < give_up;) {
      waiting = false;
      for (auto& process : processes) {
        if (process->output_ended()) continue;
        process->ReadFor(milliseconds(10));
        waiting = true;
      }
      std::optional<int> server_status = server->Wait(milliseconds(0));
      if (server_status.has_value()) {
        ADD_FAILURE() << "the server exited during the calls, wait status " << *server_status;
        server_died = true;
      }
    }
    for (size_t i = 0; i < processes.size(); ++i) {
      EXPECT_TRUE(processes[i]->output_ended()) << "client " << i << " did not finish in time";
      std::optional<int> status = processes[i]->Wait(
          processes[i]->output_ended() && !server_died ? kHangBound : milliseconds(0));
      uint64_t calls = std::stoull(clients[i].at(0)) * std::stoull(clients[i].at(2));
      std::string expected = "calls=" + std::to_string(calls) + " ok=" + std::to_string(calls) +
                             " mismatched=0 failed=0\n";
      EXPECT_EQ(processes[i]->output(), expected) << "client " << i;
      if (status.has_value()) {
        EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
            << "client " << i << " wait status " << *status;
      }
    }
    if (server_died) return;  // the destructors kill the clients
    StopServer(server.get());
  }
  EXPECT_EQ(pool->Stats().heap_used_bytes, baseline) << "pool memory leaked";
}

namespace {

std::string Pattern(size_t size, uint32_t seed) {
  std::string bytes(size, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < size; ++i) {
    x = x * 1664525u + 1013904223u;
    bytes[i] = static_cast<char>(x >> 24);
  }
  return bytes;
}

uint64_t Fnv1a(std::string_view bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char byte : bytes) hash = (hash ^ byte) * 1099511628211ull;
  return hash;
}

// Each test has its own pool and server process.
class MultiProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_name_ = UniquePoolName();
    PoolOptions options;
    options.size_bytes = 64ull << 20;
    ASSERT_TRUE(Pool::Create(pool_name_, options, &pool_).ok());
    baseline_used_ = pool_->Stats().heap_used_bytes;
  }

  void TearDown() override {
    channel_.reset();
    server_.reset();
    pool_.reset();
    Pool::Remove(pool_name_);
  }

  void StartServer(int workers = 2) {
    server_ = process_test::StartServer(pool_name_, workers);
    ASSERT_TRUE(server_->running());
  }

  std::shared_ptr<Channel> Connect() { return process_test::ConnectToTestService(pool_); }

  Status Call(const std::string& method, const std::string& request, std::string* response,
              milliseconds timeout = kHangBound) {
    ClientContext context;
    context.set_timeout(timeout);
    return channel_->Call(method, request, response, &context);
  }

  // The server's count `counter` ("Cancellations": Sleep handlers that saw cancellation;
  // "SleepsStarted"), waiting up to kHangBound for it to reach `at_least`.
  int WaitForCount(const std::string& counter, int at_least) {
    auto give_up = Clock::now() + kHangBound;
    int seen = -1;
    do {
      std::string response;
      Status status = Call(counter, "", &response);
      if (!status.ok()) {
        ADD_FAILURE() << status.ToString();
        return -1;
      }
      seen = std::stoi(response);
      if (seen < at_least) std::this_thread::sleep_for(milliseconds(5));
    } while (seen < at_least && Clock::now() < give_up);
    return seen;
  }
  int WaitForCancellations(int at_least) { return WaitForCount("Cancellations", at_least); }

  std::string pool_name_;
  std::shared_ptr<Pool> pool_;
  uint64_t baseline_used_ = 0;
  std::unique_ptr<PeerProcess> server_;
  std::shared_ptr<Channel> channel_;
};

TEST_F(MultiProcessTest, UnaryEchoInlineAndSmall) {
  StartServer();
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  for (size_t size : {0, 1, 5, 23, 24, 25, 100, 4096}) {
    std::string request = Pattern(size, static_cast<uint32_t>(size));
    std::string response = "stale";
    ClientContext context;
    context.set_timeout(kHangBound);
    Status status = channel_->Call("Echo", request, &response, &context);
    ASSERT_TRUE(status.ok()) << "size " << size << ": " << status.ToString();
    EXPECT_EQ(response, request) << "size " << size;
    EXPECT_EQ(context.peer(), "notnets:" + pool_->path() + "/test.Echo");
  }
}

TEST_F(MultiProcessTest, UnaryEchoLargePayloads) {
  StartServer();
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  for (size_t size : {size_t{64} << 10, size_t{1} << 20, (size_t{6} << 20) + 13}) {
    std::string request = Pattern(size, 7);
    std::string response;
    Status status = Call("Echo", request, &response);
    ASSERT_TRUE(status.ok()) << "size " << size << ": " << status.ToString();
    EXPECT_TRUE(response == request) << "size " << size << ": echo differs";

    status = Call("Checksum", request, &response);
    ASSERT_TRUE(status.ok()) << status.ToString();
    ASSERT_EQ(response.size(), 8u);
    uint64_t hash = 0;
    for (int i = 7; i >= 0; --i) hash = hash << 8 | static_cast<uint8_t>(response[i]);
    EXPECT_EQ(hash, Fnv1a(request)) << "size " << size;
  }
}

TEST_F(MultiProcessTest, ZeroCopyBothSides) {
  StartServer();
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  for (size_t size : {size_t{1}, size_t{24}, size_t{1000}, size_t{70000}, size_t{3} << 20}) {
    std::string request = Pattern(size, 3);
    MessageBuffer buffer;
    ASSERT_TRUE(channel_->AllocateMessage(size, &buffer).ok());
    ASSERT_GE(buffer.capacity(), size);
    ASSERT_EQ(buffer.size(), size);
    std::memcpy(buffer.data(), request.data(), size);
    ReceivedMessage response;
    ClientContext context;
    context.set_timeout(kHangBound);
    Status status = channel_->Call("EchoZeroCopy", std::move(buffer), &response, &context);
    ASSERT_TRUE(status.ok()) << "size " << size << ": " << status.ToString();
    EXPECT_FALSE(buffer.valid());
    EXPECT_TRUE(response.view() == request) << "size " << size;
  }
  // A copied request answered in place, and a buffer trimmed with set_size.
  std::string request = Pattern(5000, 4);
  std::string response;
  ASSERT_TRUE(Call("EchoZeroCopy", request, &response).ok());
  EXPECT_EQ(response, request);
  MessageBuffer buffer;
  ASSERT_TRUE(channel_->AllocateMessage(8192, &buffer).ok());
  std::memcpy(buffer.data(), request.data(), 100);
  buffer.set_size(100);
  ReceivedMessage received;
  ClientContext context;
  context.set_timeout(kHangBound);
  ASSERT_TRUE(channel_->Call("Echo", std::move(buffer), &received, &context).ok());
  EXPECT_EQ(received.view(), request.substr(0, 100));
}

TEST_F(MultiProcessTest, MetadataBothWays) {
  StartServer();
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  const std::string binary("\0\x01\xff\x00 bin\0\n\x7f", 11);
  const std::string big = Pattern(3000, 9);
  ClientContext context;
  context.set_timeout(kHangBound);
  context.AddMetadata("user", "alice");
  context.AddMetadata("trace-bin", binary);
  context.AddMetadata("big-bin", big);
  context.AddMetadata("multi", "one");
  context.AddMetadata("multi", "two");
  std::string response;
  Status status = channel_->Call("Echo", "payload", &response, &context);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(response, "payload");
  Metadata trailing{{"echo-user", "alice"},
                    {"echo-trace-bin", binary},
                    {"echo-big-bin", big},
                    {"echo-multi", "one"},
                    {"echo-multi", "two"}};
  Metadata initial{{"init-user", "alice"},
                   {"init-trace-bin", binary},
                   {"init-big-bin", big},
                   {"init-multi", "one"},
                   {"init-multi", "two"}};
  EXPECT_EQ(context.GetServerTrailingMetadata(), trailing);
  EXPECT_EQ(context.GetServerInitialMetadata(), initial);

  // A call without metadata gets none back.
  ClientContext plain;
  plain.set_timeout(kHangBound);
  ASSERT_TRUE(channel_->Call("Echo", "x", &response, &plain).ok());
  EXPECT_TRUE(plain.GetServerTrailingMetadata().empty());
  EXPECT_TRUE(plain.GetServerInitialMetadata().empty());
}

TEST_F(MultiProcessTest, EveryStatusCodeArrives) {
  StartServer();
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  for (int code = 1; code <= 16; ++code) {
    std::string response;
    Status status = Call("Status", std::to_string(code), &response);
    EXPECT_EQ(status.error_code(), static_cast<StatusCode>(code)) << status.ToString();
    EXPECT_EQ(status.error_message(), "status " + std::to_string(code) + " from handler");
  }
  std::string response;
  EXPECT_TRUE(Call("Status", "0", &response).ok());
}

TEST_F(MultiProcessTest, DeadlineExceededAndHandlerSeesIt) {
  StartServer(/*workers=*/1);
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  auto start = Clock::now();
  std::string response;
  Status status = Call("Sleep", "2000", &response, milliseconds(100));
  EXPECT_EQ(status.error_code(), StatusCode::DEADLINE_EXCEEDED) << status.ToString();
  EXPECT_LT(Clock::now() - start, kHangBound);
  // The only worker answers again once the handler gave up, and it counted the cancellation.
  EXPECT_EQ(WaitForCancellations(1), 1);
  ASSERT_TRUE(Call("Echo", "still there", &response).ok());
  EXPECT_EQ(response, "still there");
}

TEST_F(MultiProcessTest, DeadlineAlreadyPassed) {
  StartServer();
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  ClientContext context;
  context.set_deadline(Clock::now() - milliseconds(1));
  std::string response;
  Status status = channel_->Call("Echo", "late", &response, &context);
  EXPECT_EQ(status.error_code(), StatusCode::DEADLINE_EXCEEDED) << status.ToString();
}

TEST_F(MultiProcessTest, TryCancelFromAnotherThread) {
  StartServer(/*workers=*/2);
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  ClientContext context;
  context.set_timeout(seconds(60));
  // Once the handler runs, through the other worker: a cancellation before it would leave it
  // nothing to see.
  std::thread canceller([this, &context] {
    WaitForCount("SleepsStarted", 1);
    context.TryCancel();
  });
  auto start = Clock::now();
  std::string response;
  Status status = channel_->Call("Sleep", "10000", &response, &context);
  canceller.join();
  EXPECT_EQ(status.error_code(), StatusCode::CANCELLED) << status.ToString();
  EXPECT_LT(Clock::now() - start, kHangBound);
  // The cancellation reached the running handler through the other worker.
  EXPECT_EQ(WaitForCancellations(1), 1);
  ASSERT_TRUE(Call("Echo", "after cancel", &response).ok());
  EXPECT_EQ(response, "after cancel");
}

// ClientContext::TryCancel promises that "the server's handler sees ServerContext::IsCancelled()",
// and one worker is the ServerBuilder default. The only worker is busy running the handler, so
// nobody reads the request ring: the cancellation reaches the handler through the call slot's
// cancel word (ConnectionView::cancel_words), which IsCancelled reads itself. The Sleep handler
// counts the cancellations it saw; a cancellation that went only through the ring would leave it
// at 0.
TEST_F(MultiProcessTest, TryCancelReachesHandlerOnSingleWorkerServer) {
  StartServer(/*workers=*/1);
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  // The only worker cannot say when the handler started, so the canceller waits a while; a
  // cancellation that came before the handler left it nothing to see, and the attempt is made
  // again with a longer wait.
  int handlers_run = 0;
  for (milliseconds wait(100); handlers_run == 0 && wait <= milliseconds(3200); wait *= 2) {
    ClientContext context;
    context.set_timeout(seconds(60));
    std::thread canceller([&context, wait] {
      std::this_thread::sleep_for(wait);
      context.TryCancel();
    });
    std::string response;
    Status status = channel_->Call("Sleep", "10000", &response, &context);
    canceller.join();
    EXPECT_EQ(status.error_code(), StatusCode::CANCELLED) << status.ToString();
    // With one worker, these calls run only after the Sleep handler returned: the counts are
    // final.
    std::string started, cancellations;
    ASSERT_TRUE(Call("SleepsStarted", "", &started).ok());
    ASSERT_TRUE(Call("Cancellations", "", &cancellations).ok());
    handlers_run = std::stoi(started);
    EXPECT_EQ(cancellations, started) << "the handler did not see the client's cancellation";
  }
  EXPECT_EQ(handlers_run, 1) << "no Sleep handler ran before its call was cancelled";
}

TEST_F(MultiProcessTest, TryCancelBeforeTheCall) {
  StartServer();
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  ClientContext context;
  context.TryCancel();
  std::string response;
  Status status = channel_->Call("Echo", "never sent", &response, &context);
  EXPECT_EQ(status.error_code(), StatusCode::CANCELLED) << status.ToString();
}

TEST_F(MultiProcessTest, UnknownMethodAndService) {
  StartServer();
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  std::string response;
  Status status = Call("NoSuchMethod", "x", &response);
  EXPECT_EQ(status.error_code(), StatusCode::UNIMPLEMENTED) << status.ToString();
  EXPECT_NE(status.error_message().find("NoSuchMethod"), std::string::npos)
      << status.error_message();

  std::shared_ptr<Channel> other;
  status = Channel::Connect(pool_, "test.NoSuchService", ChannelOptions(), &other);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
  EXPECT_NE(status.error_message().find("test.NoSuchService"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(other, nullptr);
}

TEST(MultiProcessClientsTest, FourClientProcessesOneServer) {
  // Four client processes of two threads each against one server with two workers.
  std::vector<std::vector<std::string>> clients;
  for (int i = 0; i < 4; ++i) clients.push_back({"300", std::to_string(100 + i), "2"});
  RunClientProcesses(/*server_workers=*/2, clients, seconds(120));
}

TEST_F(MultiProcessTest, ServerShutdownWhileCallsWait) {
  // One worker: the first Sleep runs in the handler, the second waits in the ring behind it. The
  // first sleeps long enough that the shutdown starts before the worker could take the second,
  // even on a loaded machine where the server process waits for a CPU.
  StartServer(/*workers=*/1);
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  Status running_status, queued_status;
  std::string running_response;
  std::thread running([&] {
    ClientContext context;
    context.set_timeout(seconds(60));
    running_status = channel_->Call("Sleep", "3000", &running_response, &context);
  });
  std::this_thread::sleep_for(milliseconds(300));
  auto start = Clock::now();
  std::thread queued([&] {
    ClientContext context;
    context.set_timeout(seconds(60));
    std::string response;
    queued_status = channel_->Call("Sleep", "1000", &response, &context);
  });
  std::this_thread::sleep_for(milliseconds(100));
  StopServer(server_.get());
  queued.join();
  running.join();
  EXPECT_LT(Clock::now() - start, kHangBound);
  // Shutdown lets a running handler finish and send its response, and fails calls that have not
  // started with UNAVAILABLE. (The first call had 300 ms to reach the handler; should it not have,
  // it was not started either.)
  EXPECT_TRUE(running_status.ok() || running_status.error_code() == StatusCode::UNAVAILABLE)
      << running_status.ToString();
  if (running_status.ok()) {
    EXPECT_EQ(running_response, "slept");
  }
  EXPECT_EQ(queued_status.error_code(), StatusCode::UNAVAILABLE) << queued_status.ToString();

  // Later calls fail at once; the service is gone from the directory.
  std::string response;
  Status status = Call("Echo", "x", &response);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
  std::shared_ptr<Channel> other;
  status = Channel::Connect(pool_, "test.Echo", ChannelOptions(), &other);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
}

TEST_F(MultiProcessTest, ServerKilledWhileCallWaits) {
  StartServer();
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  std::string response;
  ASSERT_TRUE(Call("Echo", "warm up", &response).ok());
  std::thread killer([this] {
    std::this_thread::sleep_for(milliseconds(200));
    server_->Signal(SIGKILL);
    server_->Wait(kHangBound);
  });
  auto start = Clock::now();
  Status status = Call("Sleep", "20000", &response, seconds(60));
  killer.join();
  EXPECT_TRUE(status.error_code() == StatusCode::UNAVAILABLE ||
              status.error_code() == StatusCode::DEADLINE_EXCEEDED)
      << status.ToString();
  EXPECT_LT(Clock::now() - start, kHangBound);
  EXPECT_FALSE(server_->running());

  // While no server is there, calls fail at once; a new server takes over the dead one's name
  // and the same channel finds it.
  status = Call("Echo", "x", &response);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
  EXPECT_NE(status.error_message().find("test.Echo"), std::string::npos) << status.ToString();
  StartServer();
  status = Call("Echo", "new server", &response);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(response, "new server");
}

TEST_F(MultiProcessTest, ServerKilledWithManyAsyncCallsOutstanding) {
  // One worker: the first Sleep runs, the others wait in the ring. Every callback must run once,
  // with UNAVAILABLE: none may be lost or run twice when the server dies under them.
  StartServer(/*workers=*/1);
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  std::string response;
  ASSERT_TRUE(Call("Echo", "warm up", &response).ok());
  constexpr int kCalls = 100;
  // Shared with the callbacks, which outlive this function if it fails early.
  struct Outcome {
    std::mutex mutex;
    std::condition_variable all_done;
    std::vector<int> runs = std::vector<int>(kCalls, 0);
    std::vector<StatusCode> codes = std::vector<StatusCode>(kCalls, StatusCode::OK);
    int done = 0;
  };
  auto outcome = std::make_shared<Outcome>();
  std::vector<std::unique_ptr<ClientContext>> contexts;
  for (int i = 0; i < kCalls; ++i) {
    contexts.push_back(std::make_unique<ClientContext>());
    contexts.back()->set_timeout(seconds(60));
    channel_->CallAsync("Sleep", "20000", contexts.back().get(),
                        CallCallback([outcome, i](CallResult result) {
                          std::lock_guard<std::mutex> lock(outcome->mutex);
                          ++outcome->runs[i];
                          outcome->codes[i] = result.status.error_code();
                          if (++outcome->done == kCalls) outcome->all_done.notify_all();
                        }));
  }
  std::this_thread::sleep_for(milliseconds(200));
  server_->Signal(SIGKILL);
  server_->Wait(kHangBound);
  {
    std::unique_lock<std::mutex> lock(outcome->mutex);
    EXPECT_TRUE(
        outcome->all_done.wait_for(lock, kHangBound, [&] { return outcome->done == kCalls; }))
        << outcome->done << " of " << kCalls << " callbacks ran";
  }
  channel_.reset();  // completes any call still outstanding, before `contexts` goes
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(outcome->runs[i], 1) << "call " << i;
    EXPECT_EQ(outcome->codes[i], StatusCode::UNAVAILABLE) << "call " << i;
  }
}

// A wait-for-ready call made while the server is down waits for its restart.
TEST_F(MultiProcessTest, WaitForReadyCallWaitsForTheRestartedServer) {
  StartServer();
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  std::string response;
  ASSERT_TRUE(Call("Echo", "first", &response).ok());
  server_->Signal(SIGKILL);
  ASSERT_TRUE(server_->Wait(kHangBound).has_value());
  std::thread restarter([this] {
    std::this_thread::sleep_for(milliseconds(300));
    StartServer();
  });
  ClientContext context;
  context.set_timeout(kHangBound);
  context.set_wait_for_ready(true);
  Status status = channel_->Call("Echo", "after restart", &response, &context);
  restarter.join();
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(response, "after restart");

  // Without a server, a wait-for-ready call ends at its deadline.
  StopServer(server_.get());
  ClientContext waiting;
  waiting.set_timeout(milliseconds(200));
  waiting.set_wait_for_ready(true);
  EXPECT_EQ(channel_->Call("Echo", "x", &response, &waiting).error_code(),
            StatusCode::DEADLINE_EXCEEDED);
}

// A client killed while it holds pool memory: the server reclaims all of it.
TEST_F(MultiProcessTest, ServerReclaimsWhatAKilledClientHeld) {
  StartServer();
  uint64_t with_server = pool_->Stats().heap_used_bytes;
  PeerProcess client({"hold", pool_name_});
  ASSERT_TRUE(client.WaitForLine("holding", kStartBound));
  EXPECT_GT(pool_->Stats().heap_used_bytes, with_server);
  client.Signal(SIGKILL);
  ASSERT_TRUE(client.Wait(kHangBound).has_value());
  auto give_up = Clock::now() + kHangBound;
  while (pool_->Stats().heap_used_bytes != with_server && Clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(pool_->Stats().heap_used_bytes, with_server) << "the dead client's memory leaked";
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  std::string response;
  EXPECT_TRUE(Call("Echo", "still serving", &response).ok());
}

// A server killed but not yet reaped by its parent (a zombie) counts as gone too.
TEST_F(MultiProcessTest, ServerKilledNotYetReaped) {
  StartServer();
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  std::string response;
  ASSERT_TRUE(Call("Echo", "warm up", &response).ok());
  std::thread killer([this] {
    std::this_thread::sleep_for(milliseconds(200));
    kill(server_->pid(), SIGKILL);  // not reaped until the call has returned
  });
  auto start = Clock::now();
  Status status = Call("Sleep", "20000", &response, seconds(60));
  killer.join();
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
  EXPECT_LT(Clock::now() - start, kHangBound);
  EXPECT_TRUE(server_->Wait(kHangBound).has_value());
}

// A client that retries after its server crashed ("reconnect when it is back") must not use up the
// pool. Directory::Lookup refuses an entry whose server process is dead (UNAVAILABLE), so no
// connection block is allocated for a server that will never accept it. Were the entry found, each
// attempt would leave a 32 KiB connection block that only a second detach frees, and the heap
// would grow by that much per attempt.
TEST_F(MultiProcessTest, ConnectAfterServerKilledDoesNotLeak) {
  StartServer();
  server_->Signal(SIGKILL);
  ASSERT_TRUE(server_->Wait(kHangBound).has_value());
  uint64_t used = pool_->Stats().heap_used_bytes;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::shared_ptr<Channel> channel;
    Status status = Channel::Connect(pool_, "test.Echo", ChannelOptions(), &channel);
    if (status.ok()) {
      ClientContext context;
      context.set_timeout(kHangBound);
      std::string response;
      status = channel->Call("Echo", "anyone there?", &response, &context);
    }
    EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
  }
  EXPECT_EQ(pool_->Stats().heap_used_bytes, used) << "connecting to a dead server leaked memory";
}

TEST_F(MultiProcessTest, PoolMemoryReturnsToBaseline) {
  StartServer();
  EXPECT_GT(pool_->Stats().heap_used_bytes, baseline_used_) << "the method table is in the pool";
  std::shared_ptr<Channel> first = Connect();
  std::shared_ptr<Channel> second = Connect();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  for (Channel* channel : {first.get(), second.get()}) {
    for (size_t size : {size_t{10}, size_t{3000}, size_t{100000}, size_t{3} << 20}) {
      std::string request = Pattern(size, 5);
      ClientContext context;
      context.set_timeout(kHangBound);
      context.AddMetadata("key-bin", std::string("\0v", 2));
      std::string response;
      ASSERT_TRUE(channel->Call("Echo", request, &response, &context).ok());
      MessageBuffer buffer;
      ASSERT_TRUE(channel->AllocateMessage(size, &buffer).ok());
      std::memcpy(buffer.data(), request.data(), size);
      ReceivedMessage received;
      ClientContext zero_copy;
      zero_copy.set_timeout(kHangBound);
      ASSERT_TRUE(channel->Call("EchoZeroCopy", std::move(buffer), &received, &zero_copy).ok());
      EXPECT_TRUE(received.view() == request);
    }
    std::string response;
    ClientContext failing;
    failing.set_timeout(kHangBound);
    EXPECT_EQ(channel->Call("Status", "9", &response, &failing).error_code(),
              StatusCode::FAILED_PRECONDITION);
    // An abandoned call whose response arrives late, with a block payload and metadata.
    ClientContext late;
    late.set_timeout(milliseconds(50));
    late.AddMetadata("late", "yes");
    EXPECT_EQ(channel->Call("Sleep", "200" + std::string(40, ' '), &response, &late).error_code(),
              StatusCode::DEADLINE_EXCEEDED);
    // A buffer allocated but never sent.
    MessageBuffer unsent;
    ASSERT_TRUE(channel->AllocateMessage(50000, &unsent).ok());
  }
  // The first channel leaves while the server runs, the second after it has stopped.
  first.reset();
  StopServer(server_.get());
  second.reset();
  PoolStats stats = pool_->Stats();
  EXPECT_EQ(stats.heap_used_bytes, baseline_used_) << "blocks in use: " << stats.blocks_in_use;
  EXPECT_TRUE(stats.services.empty());
}

}  // namespace
}  // namespace notnets::process_test
