// Fault injection: a client or a server process is killed (SIGKILL) at each named step of a call,
// through the library's crash points (src/pool/crash_point.h: NOTNETS_CRASH_AT, compiled in with
// NOTNETS_FAULT_INJECTION). Each test checks what the surviving side sees (status codes, within
// generous "did not hang" bounds only), that it goes on working, and which pool memory comes back.
// docs/crash-matrix.md lists every step of a call, what happens when either side dies there, and
// which test shows it.
//
// Client deaths: the server is a `serve` peer; the dying client is a `call` peer; the test process
// is another client of the same server. Server deaths: the server is a `serve` peer started with
// NOTNETS_CRASH_AT; the test process is the client. A dying server has one worker: SIGKILL reaches
// a process's other threads only after a moment, during which a second worker could still read or
// answer the call (seen: after `server.after_accept`, the other worker read the request).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "notnets/channel.h"
#include "notnets/pool.h"
#include "process_harness.h"

namespace notnets::process_test {
namespace {

// How long the server may take to notice a dead client and reclaim what it held. It asks the
// kernel every 100 ms (ServerRuntime::kClientCheckInterval); this bound only catches a hang.
constexpr milliseconds kReclaimBound = seconds(10);
// A payload of kBlockPayload bytes travels in a block of kPayloadBlockBytes (size class 13).
constexpr size_t kBlockPayload = 5000;
constexpr uint64_t kPayloadBlockBytes = 8 << 10;

std::string CrashAt(const std::string& point) { return "NOTNETS_CRASH_AT=" + point; }

// What the Fill method of test_peer answers to the request text N.
std::string FillPattern(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>('a' + i % 26);
  return bytes;
}

// Waits for `process` to end and expects that it was killed by SIGKILL: it reached `point`.
void ExpectKilledAt(PeerProcess* process, const std::string& point) {
  std::optional<int> status = process->Wait(kHangBound);
  ASSERT_TRUE(status.has_value()) << "the process did not reach " << point << " and die";
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
      << point << ": wait status " << *status << ", output: " << process->output();
}

bool IsServerGone(const Status& status) {
  return status.error_code() == StatusCode::UNAVAILABLE ||
         status.error_code() == StatusCode::DEADLINE_EXCEEDED;
}

// Each test has its own pool.
class FaultInjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NOTNETS_SKIP_WITHOUT_CRASH_POINTS();
    pool_name_ = UniquePoolName();
    PoolOptions options;
    options.size_bytes = 64ull << 20;
    ASSERT_TRUE(Pool::Create(pool_name_, options, &pool_).ok());
    empty_heap_ = HeapUsed();
  }

  void TearDown() override {
    channel_.reset();
    server_.reset();
    pool_.reset();
    if (!pool_name_.empty()) Pool::Remove(pool_name_);
  }

  uint64_t HeapUsed() const { return pool_->Stats().heap_used_bytes; }

  void StartServer(int workers = 2, const std::vector<std::string>& environment = {}) {
    server_ = process_test::StartServer(pool_name_, workers, environment);
    ASSERT_TRUE(server_->running());
  }

  std::shared_ptr<Channel> Connect(bool pool_blocks = false) {
    return process_test::ConnectToTestService(pool_, pool_blocks);
  }

  Status Call(const std::string& method, const std::string& request, std::string* response,
              bool wait_for_ready = false) {
    ClientContext context;
    context.set_timeout(kHangBound);
    context.set_wait_for_ready(wait_for_ready);
    return channel_->Call(method, request, response, &context);
  }

  // ---- A client dies; the server survives.

  // Starts the server and connects the test's own channel, warmed up with an inline call (which
  // takes no block): the heap used then is the baseline that a dead client must return to.
  uint64_t StartServerAndChannel(int workers = 2) {
    StartServer(workers);
    channel_ = Connect();
    std::string response;
    EXPECT_TRUE(channel_ != nullptr && Call("Echo", "warm up", &response).ok());
    return HeapUsed();
  }

  // Runs `call POOL ARGS...` with NOTNETS_CRASH_AT=`point` and expects it to die there.
  void RunClientDyingAt(const std::string& point, const std::vector<std::string>& args) {
    std::vector<std::string> full = {"call", pool_name_};
    full.insert(full.end(), args.begin(), args.end());
    PeerProcess client(full, {CrashAt(point)});
    ExpectKilledAt(&client, point);
  }

  // Expects every byte the dead client held to be back once the server has retired its
  // connection (its header block, 256 bytes, is smaller than a payload block, so no level of the
  // heap tells that the reclaim is over: the bound does).
  void ExpectClientMemoryReclaimed(uint64_t baseline) {
    auto give_up = Clock::now() + kReclaimBound;
    while (HeapUsed() != baseline && Clock::now() < give_up) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    uint64_t used = HeapUsed();
    EXPECT_EQ(used, baseline) << "heap used differs from its value before the dead client came by "
                              << static_cast<int64_t>(used - baseline) << " bytes";
  }

  void ExpectStillServing() {
    std::string response;
    Status status = Call("Echo", "still serving", &response);
    EXPECT_TRUE(status.ok()) << status.ToString();
    EXPECT_EQ(response, "still serving");
  }

  int Cancellations() { return Count("Cancellations"); }
  int SleepsStarted() { return Count("SleepsStarted"); }

  // The decimal answer of the server's counting method `method`; -1 if the call failed.
  int Count(const std::string& method) {
    std::string response;
    Status status = Call(method, "", &response);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return status.ok() ? std::stoi(response) : -1;
  }

  // ---- The server dies; the test process is its client.

  // A new server takes over the dead one's name and the same channel reaches it; then that server
  // stops and the channel goes. Returns the heap used after all that: what the dead server left.
  uint64_t RestartStopAndDisconnect() {
    StartServer();
    std::string response;
    Status status = Call("Echo", "after restart", &response);
    EXPECT_TRUE(status.ok()) << status.ToString();
    EXPECT_EQ(response, "after restart");
    StopServer(server_.get());
    channel_.reset();
    return HeapUsed();
  }

  std::string pool_name_;
  std::shared_ptr<Pool> pool_;
  uint64_t empty_heap_ = 0;
  std::unique_ptr<PeerProcess> server_;
  std::shared_ptr<Channel> channel_;
};

// ======== Client deaths

// The connection is on the service's pending stack; the server accepts it, finds its client dead,
// and frees it.
TEST_F(FaultInjectionTest, ClientDiesAfterPushingConnection) {
  uint64_t baseline = StartServerAndChannel();
  RunClientDyingAt("client.after_push_connection", {"Echo", "never sent"});
  ExpectClientMemoryReclaimed(baseline);
  ExpectStillServing();
}

// The same, but another process opens the pool between the client's death and the accept, and
// removes the dead client's segment file (Pool::Attach removes the files of dead creators): the
// server finds no segment to map and must still free the connection block, since the dead client
// never will. The server is stopped meanwhile, so that the accept comes after the removal. Under
// load this is what happened in OtherClientsUnaffectedWhileClientsDie, whose other clients attach
// as the dying ones die: the block (256 bytes) never came back.
TEST_F(FaultInjectionTest, ClientDiesAfterPushingConnectionAndItsSegmentIsRemoved) {
  uint64_t baseline = StartServerAndChannel();
  ASSERT_TRUE(server_->Stop());
  RunClientDyingAt("client.after_push_connection", {"Echo", "never sent"});
  std::shared_ptr<Pool> other;
  Status attached = Pool::Attach(pool_name_, &other);
  server_->Signal(SIGCONT);
  ASSERT_TRUE(attached.ok()) << attached.ToString();
  ExpectClientMemoryReclaimed(baseline);
  ExpectStillServing();
}

// Slot claimed and request built inline (no block), not yet in the ring.
TEST_F(FaultInjectionTest, ClientDiesBeforePublishingInlineRequest) {
  uint64_t baseline = StartServerAndChannel();
  RunClientDyingAt("client.before_publish_request", {"Echo", "inline"});
  ExpectClientMemoryReclaimed(baseline);
  ExpectStillServing();
}

// The request's payload block is already handed to the server's endpoint (PublishBlock) but no
// descriptor names it yet. The server must reclaim it all the same: detaching from a dead client
// (DetachConnection, peer_is_dead) also frees the blocks published to the server's own endpoint.
// Without that sweep the heap stays one payload block (8 KiB) above the baseline and
// ExpectClientMemoryReclaimed fails. The same holds for a request's metadata block.
TEST_F(FaultInjectionTest, ClientDiesBeforePublishingBlockRequest) {
  uint64_t baseline = StartServerAndChannel();
  RunClientDyingAt("client.before_publish_request",
                   {"Echo", "block", std::to_string(kBlockPayload)});
  ExpectClientMemoryReclaimed(baseline);
  ExpectStillServing();
}

// The request is in the ring: the server runs the handler anyway, and the handler sees the dead
// client as a cancellation (a 60 s Sleep that ends early); its response (a CANCELLED status with
// a message, in a metadata block published to the dead client) is reclaimed with the rest.
TEST_F(FaultInjectionTest, ClientDiesAfterPublishingRequest) {
  uint64_t baseline = StartServerAndChannel();
  RunClientDyingAt("client.after_publish_request", {"Sleep", "60000"});
  // Reclaimed only once no handler runs for the connection: the Sleep saw the cancellation.
  ExpectClientMemoryReclaimed(baseline);
  EXPECT_EQ(Cancellations(), 1);
  ExpectStillServing();
}

// ServerContext::IsCancelled() promises true once the client process died, even when no worker is
// free to run housekeeping (CheckClients): with one worker (the ServerBuilder default) that runs
// the handler, IsCancelled itself asks the kernel whether the client lives. The Sleep handler
// counts the cancellation it saw; a handler that ran its 2 s to the end leaves the count at 0.
TEST_F(FaultInjectionTest, ClientDiesWhileTheOnlyWorkerRunsItsHandler) {
  uint64_t baseline = StartServerAndChannel(/*workers=*/1);
  RunClientDyingAt("client.after_publish_request", {"Sleep", "2000"});
  ExpectClientMemoryReclaimed(baseline);
  // The connection was retired, so the Sleep handler has returned: the count is final.
  EXPECT_EQ(Cancellations(), 1) << "the handler did not see that its client died";
  ExpectStillServing();
}

// The client copied the response descriptor out of the ring (and published that it read it) but
// never adopted the response's block: the server reclaims the block, published to the client.
TEST_F(FaultInjectionTest, ClientDiesAfterReadingResponse) {
  uint64_t baseline = StartServerAndChannel();
  RunClientDyingAt("client.after_read_response", {"Fill", std::to_string(kBlockPayload)});
  ExpectClientMemoryReclaimed(baseline);
  ExpectStillServing();
}

// The same, read by the asynchronous completion thread.
TEST_F(FaultInjectionTest, AsyncClientDiesAfterReadingResponse) {
  uint64_t baseline = StartServerAndChannel();
  RunClientDyingAt("client.after_read_response",
                   {"Fill", std::to_string(kBlockPayload), "0", "async"});
  ExpectClientMemoryReclaimed(baseline);
  ExpectStillServing();
}

// Clients die at every client crash point while two other client processes (sync and async,
// mixed sizes, every response checked) keep calling: they see no failure, and all memory comes
// back once everyone has gone.
TEST_F(FaultInjectionTest, OtherClientsUnaffectedWhileClientsDie) {
  uint64_t baseline = StartServerAndChannel();
  std::vector<std::unique_ptr<PeerProcess>> healthy;
  for (const char* mode : {"sync", "async"}) {
    healthy.push_back(std::make_unique<PeerProcess>(
        std::vector<std::string>{"client", pool_name_, "1000", "77", "2", mode}));
  }
  const std::vector<std::pair<std::string, std::vector<std::string>>> dying = {
      {"client.after_push_connection", {"Echo", "x"}},
      {"client.before_publish_request", {"Echo", "x"}},
      {"client.after_publish_request", {"Sleep", "60000"}},
      {"client.after_read_response", {"Fill", std::to_string(kBlockPayload), "0", "async"}},
  };
  std::vector<std::unique_ptr<PeerProcess>> dying_clients;
  for (const auto& [point, args] : dying) {
    std::vector<std::string> full = {"call", pool_name_};
    full.insert(full.end(), args.begin(), args.end());
    dying_clients.push_back(std::make_unique<PeerProcess>(full, std::vector{CrashAt(point)}));
  }
  for (size_t i = 0; i < dying.size(); ++i) ExpectKilledAt(dying_clients[i].get(), dying[i].first);
  for (auto& client : healthy) {
    client->ReadFor(kHangBound);
    EXPECT_EQ(client->output(), "calls=2000 ok=2000 mismatched=0 failed=0\n");
    std::optional<int> status = client->Wait(kHangBound);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
  }
  ExpectStillServing();
  // The healthy clients left too; their connections are retired as they close.
  auto give_up = Clock::now() + kReclaimBound;
  while (HeapUsed() != baseline && Clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(HeapUsed(), baseline);
  // The client that died after publishing its Sleep may be gone before the server accepted its
  // connection: a healthy client attaching the pool meanwhile removes the dead client's segment
  // file, and the call is never read (nobody waits for its answer). A Sleep that did start must
  // have seen its caller die.
  int started = SleepsStarted();
  EXPECT_LE(started, 1);
  EXPECT_EQ(Cancellations(), started);
}

// A message may outlive its channel (message.h), so blocks owned by a connection's client endpoint
// may outlive the connection block whose offset names that endpoint. A later connection in the
// same block has the same endpoint id; when its client dies, the server must not take the earlier
// holder's message.
//
// A freed connection block is the very next one handed out for its size (the free list is LIFO),
// so the dying client gets the held message's old connection block. Endpoint ids derive from the
// connection's serial (ConnectionHeader::serial, unique for the pool's life), not from the block's
// offset, so the server's ReclaimOwnedBy for the dead client cannot take the held message. Were
// the ids reused, the held block would be freed and handed out again to the next Echo, and the
// held message would change under its holder: the last expectation fails.
//
// Only messages in pool blocks have owners: a connection without arenas.
TEST_F(FaultInjectionTest, HeldMessageSurvivesADeadClientInItsOldConnectionBlock) {
  StartServer();
  uint64_t with_server = HeapUsed();
  channel_ = Connect(/*pool_blocks=*/true);
  ASSERT_NE(channel_, nullptr);
  ClientContext context;
  context.set_timeout(kHangBound);
  CallResult held = channel_->CallAsync("Fill", std::to_string(kBlockPayload), &context).get();
  ASSERT_TRUE(held.status.ok()) << held.status.ToString();
  channel_.reset();
  // The server retires the closed connection and frees its block; the held message stays.
  auto give_up = Clock::now() + kReclaimBound;
  while (HeapUsed() != with_server + kPayloadBlockBytes && Clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(HeapUsed(), with_server + kPayloadBlockBytes);
  // The next connection block of that size is the one just freed: the dying client gets it.
  RunClientDyingAt("client.after_push_connection", {"Echo", "x"});
  ExpectClientMemoryReclaimed(with_server + kPayloadBlockBytes);
  EXPECT_TRUE(held.response.view() == FillPattern(kBlockPayload));
  // Blocks freed by mistake are handed out again: the held message would be overwritten.
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  std::string request(kBlockPayload, 'z'), response;
  ASSERT_TRUE(Call("Echo", request, &response).ok());
  EXPECT_TRUE(held.response.view() == FillPattern(kBlockPayload)) << "the held message changed";
}

// ======== Server deaths

// The server accepted the connection and died before reading the request: the call fails with
// UNAVAILABLE (sent again, up to three attempts, but there is no server); a new server takes over
// the name and the same channel reaches it. All memory comes back: the dead server's connection
// (and the unread request) is freed by the client when its channel goes, its method table by the
// new server's registration.
TEST_F(FaultInjectionTest, ServerDiesAfterAccept) {
  StartServer(1, {CrashAt("server.after_accept")});
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  auto start = Clock::now();
  std::string response;
  Status status = Call("Echo", std::string(kBlockPayload, 'u'), &response);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
  EXPECT_LT(Clock::now() - start, kHangBound);
  ExpectKilledAt(server_.get(), "server.after_accept");
  // No server: calls fail at once.
  status = Call("Echo", "x", &response);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
  EXPECT_EQ(RestartStopAndDisconnect(), empty_heap_);
}

// A wait-for-ready call whose request the dead server never read goes to the next server and
// succeeds there. The server is stopped (SIGSTOP) until the request is in the ring, so that the
// request is published before the server accepts the connection and dies.
TEST_F(FaultInjectionTest, ServerDiesAfterAcceptCallGoesToRestartedServer) {
  StartServer(1, {CrashAt("server.after_accept")});
  std::unique_ptr<PeerProcess> first = std::move(server_);
  ASSERT_TRUE(first->Stop());
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  std::thread restarter([this, &first] {
    std::this_thread::sleep_for(milliseconds(200));  // the call below is in the ring by then
    first->Signal(SIGCONT);
    ExpectKilledAt(first.get(), "server.after_accept");
    StartServer();
  });
  std::string response;
  Status status = Call("Echo", "sent again", &response, /*wait_for_ready=*/true);
  restarter.join();
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(response, "sent again");
  StopServer(server_.get());
  channel_.reset();
  EXPECT_EQ(HeapUsed(), empty_heap_);
}

// The server read the request and died: the call may have run, so it is not sent again, even as a
// wait-for-ready call with a new server on its way: UNAVAILABLE.
TEST_F(FaultInjectionTest, ServerDiesAfterReadingRequest) {
  StartServer(1, {CrashAt("server.after_read_request")});
  std::unique_ptr<PeerProcess> first = std::move(server_);
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  std::thread restarter([this, &first] {
    ExpectKilledAt(first.get(), "server.after_read_request");
    StartServer();
  });
  auto start = Clock::now();
  std::string response;
  Status status = Call("Echo", "read once", &response, /*wait_for_ready=*/true);
  restarter.join();
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
  EXPECT_LT(Clock::now() - start, kHangBound);
  StopServer(server_.get());
  std::string unused;
  status = Call("Echo", "no server", &unused);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
  EXPECT_EQ(RestartStopAndDisconnect(), empty_heap_);
}

// The dead server had read the request, whose payload is in a block published to the server's
// endpoint: the client frees it when its channel goes, with everything else the dead server's
// endpoint held (DetachConnection with a dead peer).
TEST_F(FaultInjectionTest, ServerDiesAfterReadingBlockRequest) {
  StartServer(1, {CrashAt("server.after_read_request")});
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  std::string response;
  Status status = Call("Echo", std::string(kBlockPayload, 'r'), &response);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
  ExpectKilledAt(server_.get(), "server.after_read_request");
  EXPECT_EQ(RestartStopAndDisconnect(), empty_heap_);
}

// The server adopted the request's block (now owned by its endpoint) and died before running the
// handler; an asynchronous call learns it from the completion thread.
TEST_F(FaultInjectionTest, ServerDiesBeforeHandlerAsyncCall) {
  StartServer(1, {CrashAt("server.before_handler")});
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  auto start = Clock::now();
  ClientContext context;
  context.set_timeout(seconds(60));
  std::future<CallResult> pending =
      channel_->CallAsync("Echo", std::string(kBlockPayload, 'a'), &context);
  ASSERT_EQ(pending.wait_for(kHangBound), std::future_status::ready) << "the call hung";
  CallResult result = pending.get();
  EXPECT_EQ(result.status.error_code(), StatusCode::UNAVAILABLE) << result.status.ToString();
  EXPECT_LT(Clock::now() - start, kHangBound);
  ExpectKilledAt(server_.get(), "server.before_handler");
  EXPECT_EQ(RestartStopAndDisconnect(), empty_heap_);
}

// The handler ran and its (inline) response was built but never published: UNAVAILABLE.
TEST_F(FaultInjectionTest, ServerDiesBeforePublishingResponse) {
  StartServer(1, {CrashAt("server.before_publish_response")});
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  std::string response;
  Status status = Call("Echo", "lost answer", &response);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
  ExpectKilledAt(server_.get(), "server.before_publish_response");
  EXPECT_EQ(RestartStopAndDisconnect(), empty_heap_);
}

// The mirror image of ClientDiesBeforePublishingBlockRequest: the response block is already
// handed to the client's endpoint (PublishBlock) but no descriptor names it. When the client
// detaches from the dead server it also frees the blocks published to its own endpoint; without
// that, one payload block (8 KiB) stays used and the heap never returns to empty.
TEST_F(FaultInjectionTest, ServerDiesBeforePublishingBlockResponse) {
  StartServer(1, {CrashAt("server.before_publish_response")});
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  std::string response;
  Status status = Call("Fill", std::to_string(kBlockPayload), &response);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
  ExpectKilledAt(server_.get(), "server.before_publish_response");
  uint64_t left = RestartStopAndDisconnect();
  EXPECT_EQ(left, empty_heap_) << "left: " << static_cast<int64_t>(left - empty_heap_) << " bytes";
}

// The response was in the ring before the server died: the call succeeds with it, intact; the next
// call fails with UNAVAILABLE. The response's block is the client's; the request's block, which
// the dead server kept in its cache, is reclaimed by the client when the channel goes.
TEST_F(FaultInjectionTest, ServerDiesAfterPublishingResponse) {
  StartServer(1, {CrashAt("server.after_publish_response")});
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  std::string request = FillPattern(kBlockPayload);
  std::string response;
  Status status = Call("Echo", request, &response);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_TRUE(response == request) << "the response was corrupted";
  ExpectKilledAt(server_.get(), "server.after_publish_response");
  status = Call("Echo", "x", &response);
  EXPECT_TRUE(IsServerGone(status)) << status.ToString();
  EXPECT_EQ(RestartStopAndDisconnect(), empty_heap_);
}

// The client holds a response (in place in the server's arena) when the server is killed: the
// message stays valid and intact, even after its channel is gone, and the pool's heap never held
// it.
TEST_F(FaultInjectionTest, ServerDiesWhileClientHoldsResponse) {
  StartServer();
  uint64_t with_server = HeapUsed();
  channel_ = Connect();
  ASSERT_NE(channel_, nullptr);
  uint64_t with_connection = HeapUsed();
  ClientContext context;
  context.set_timeout(kHangBound);
  CallResult held = channel_->CallAsync("Fill", std::to_string(kBlockPayload), &context).get();
  ASSERT_TRUE(held.status.ok()) << held.status.ToString();
  EXPECT_EQ(HeapUsed(), with_connection) << "a payload in the pool's heap";
  server_->Signal(SIGKILL);
  ASSERT_TRUE(server_->Wait(kHangBound).has_value());
  std::string response;
  Status status = Call("Echo", "x", &response);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
  channel_.reset();
  EXPECT_TRUE(held.response.view() == FillPattern(kBlockPayload));
  held.response.Release();
  EXPECT_EQ(HeapUsed(), with_server) << "the dead server's method table only";
  StartServer();  // takes over the dead server's entry and frees its method table
  StopServer(server_.get());
  EXPECT_EQ(HeapUsed(), empty_heap_);
}

// ======== Server deaths, at-most-once calls (ClientContext::set_at_most_once): the channel sends
// such a call again even when the dead server had read it, and the new server decides from the
// pool's window of results (protocol.md, section 13, "At most once").

class FaultInjectionAtMostOnceTest : public FaultInjectionTest {
 protected:
  // Starts a server that dies at `point`, makes an at-most-once, wait-for-ready call of `method`
  // while a new server is started as soon as the first one died, and returns the call's status.
  Status CallAcrossDeath(const std::string& point, const std::string& method,
                         std::string* response) {
    StartServer(1, {CrashAt(point)});
    std::unique_ptr<PeerProcess> first = std::move(server_);
    channel_ = Connect();
    if (channel_ == nullptr) return Status(StatusCode::INTERNAL, "no channel");
    std::thread restarter([this, &first, &point] {
      ExpectKilledAt(first.get(), point);
      StartServer();
    });
    ClientContext context;
    context.set_timeout(kHangBound);
    context.set_wait_for_ready(true);
    context.set_at_most_once(true);
    Status status = channel_->Call(method, "", response, &context);
    restarter.join();
    return status;
  }

  // Stops the new server and drops the channel; all pool memory must be back.
  void ExpectAllMemoryBack() {
    StopServer(server_.get());
    channel_.reset();
    EXPECT_EQ(HeapUsed(), empty_heap_);
  }
};

// The dead server read the request but never recorded it in the window (it dies before the
// handler's lookup): the new server does not know the token and runs the call.
TEST_F(FaultInjectionAtMostOnceTest, ReadButNotStartedRunsOnTheNextServer) {
  std::string response;
  Status status = CallAcrossDeath("server.after_read_request", "Count", &response);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(response, "1");
  ExpectAllMemoryBack();
}

// The dead server had recorded the call as running (it died at the handler's start): it may have
// run, so the new server refuses it with ABORTED instead of running it a second time.
TEST_F(FaultInjectionAtMostOnceTest, StartedOnTheDeadServerIsAborted) {
  std::string response;
  Status status = CallAcrossDeath("server.before_handler", "Count", &response);
  EXPECT_EQ(status.error_code(), StatusCode::ABORTED) << status.ToString();
  std::string count;
  ASSERT_TRUE(Call("Count", "", &count).ok());
  EXPECT_EQ(count, "1") << "the new server ran the aborted call";
  ExpectAllMemoryBack();
}

// The handler ran and its result was recorded, but the server died before publishing the
// response: the new server answers the retry from the window, without running the handler again.
TEST_F(FaultInjectionAtMostOnceTest, FinishedOnTheDeadServerIsAnsweredFromTheWindow) {
  std::string response;
  Status status = CallAcrossDeath("server.before_publish_response", "Count", &response);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(response, "1") << "the first server's result";
  std::string count;
  ASSERT_TRUE(Call("Count", "", &count).ok());
  EXPECT_EQ(count, "1") << "the new server ran the call again";
  ExpectAllMemoryBack();
}

// ======== The same across replicas: two replicas serve at once, and the one that dies at `point`
// takes an at-most-once call with it; the channel's retry goes to the survivor, which decides from
// the pool's window whether to run it. Counted over every call: no call runs twice, none is lost.

class FaultInjectionAtMostOnceReplicasTest : public FaultInjectionTest {
 protected:
  struct Outcome {
    int ok = 0;       // at-most-once calls answered OK
    int aborted = 0;  // ... refused with ABORTED
    std::vector<Status> other;
    uint64_t survivor_runs = 0;  // Count calls the survivor ran, the at-most-once ones included
  };

  // Starts a replica that dies at `point` and one that does not, then makes at-most-once Count
  // calls until the first has died; counts what the survivor ran.
  Outcome CallUntilAReplicaDies(const std::string& point) {
    Outcome outcome;
    const std::string as_replica = "NOTNETS_TEST_REPLICA=1";
    std::unique_ptr<PeerProcess> doomed =
        process_test::StartServer(pool_name_, 1, {as_replica, CrashAt(point)});
    std::unique_ptr<PeerProcess> survivor = process_test::StartServer(pool_name_, 1, {as_replica});
    channel_ = Connect();
    if (channel_ == nullptr) {
      outcome.other.push_back(Status(StatusCode::INTERNAL, "no channel"));
      return outcome;
    }
    // The channel spreads calls over both replicas by load: the doomed one gets one of the first.
    constexpr int kMostCalls = 1000;
    for (int i = 0; i < kMostCalls && !doomed->Wait(milliseconds(0)).has_value(); ++i) {
      ClientContext context;
      context.set_timeout(kHangBound);
      context.set_wait_for_ready(true);
      context.set_at_most_once(true);
      std::string response;
      Status status = channel_->Call("Count", "", &response, &context);
      if (status.ok()) {
        ++outcome.ok;
      } else if (status.error_code() == StatusCode::ABORTED) {
        ++outcome.aborted;
      } else {
        outcome.other.push_back(status);
      }
    }
    ExpectKilledAt(doomed.get(), point);
    std::string count;
    Status counted = Call("Count", "", &count);
    if (counted.ok()) {
      outcome.survivor_runs = std::stoull(count) - 1;
    } else {
      outcome.other.push_back(counted);
    }
    StopServer(survivor.get());
    // The dead replica's directory entry keeps its method table until a server of the name takes
    // the entry over (protocol.md, section 13).
    StartServer();
    StopServer(server_.get());
    channel_.reset();
    EXPECT_EQ(HeapUsed(), empty_heap_);
    return outcome;
  }

  static void ExpectNoOtherFailure(const Outcome& outcome) {
    for (const Status& status : outcome.other) ADD_FAILURE() << status.ToString();
  }
};

// The dead replica read the call but had not recorded it: the survivor runs it.
TEST_F(FaultInjectionAtMostOnceReplicasTest, ReadButNotStartedRunsOnTheSurvivor) {
  Outcome outcome = CallUntilAReplicaDies("server.after_read_request");
  ExpectNoOtherFailure(outcome);
  EXPECT_EQ(outcome.aborted, 0);
  EXPECT_EQ(outcome.survivor_runs, static_cast<uint64_t>(outcome.ok));
}

// The dead replica had recorded the call as running: the survivor refuses it, and runs the rest.
TEST_F(FaultInjectionAtMostOnceReplicasTest, StartedOnTheDeadReplicaIsAborted) {
  Outcome outcome = CallUntilAReplicaDies("server.before_handler");
  ExpectNoOtherFailure(outcome);
  EXPECT_EQ(outcome.aborted, 1);
  EXPECT_EQ(outcome.survivor_runs, static_cast<uint64_t>(outcome.ok));
}

// The dead replica ran the call and recorded its result: the survivor answers from the window
// and does not run it again.
TEST_F(FaultInjectionAtMostOnceReplicasTest, FinishedOnTheDeadReplicaIsAnsweredFromTheWindow) {
  Outcome outcome = CallUntilAReplicaDies("server.before_publish_response");
  ExpectNoOtherFailure(outcome);
  EXPECT_EQ(outcome.aborted, 0);
  ASSERT_GE(outcome.ok, 1);
  EXPECT_EQ(outcome.survivor_runs, static_cast<uint64_t>(outcome.ok - 1));
}

}  // namespace
}  // namespace notnets::process_test
