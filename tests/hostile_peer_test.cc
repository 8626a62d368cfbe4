// Hostile peers in processes of their own (ctest label `faults`): a server that is stopped, not
// dead; a process that shortens the pool file under everyone; one that overwrites every word of
// the pool while calls run; clients that take the whole heap. The honest processes must get a
// status for every call (never a crash, a hang or wrong bytes), and the pool's memory must come
// back once the hostile process is gone (docs/security.md, docs/crash-matrix.md).
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <future>

#include "process_harness.h"
#include "scribbler.h"

namespace notnets::process_test {
namespace {

// How long memory may take to come back: a bound for "did not hang" only.
constexpr milliseconds kReclaimBound = seconds(20);

// Waits until the pool's used heap is `expected` bytes; returns the last value seen.
uint64_t WaitForUsedBytes(const Pool& pool, uint64_t expected) {
  auto give_up = Clock::now() + kReclaimBound;
  uint64_t used = pool.Stats().heap_used_bytes;
  while (used != expected && Clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(20));
    used = pool.Stats().heap_used_bytes;
  }
  return used;
}

// One Echo call with `timeout`; its status, the response checked against the request.
Status Echo(Channel* channel, const std::string& request, milliseconds timeout) {
  ClientContext context;
  context.set_timeout(timeout);
  std::string response;
  Status status = channel->Call("Echo", request, &response, &context);
  EXPECT_TRUE(!status.ok() || response == request) << "an answer changed";
  return status;
}

// Ends `process` with SIGTERM and expects it to exit by itself (not by a signal such as SIGBUS)
// without a wrong answer in its output.
void ExpectExitsCleanly(PeerProcess* process, const std::string& what) {
  process->Signal(SIGTERM);
  std::optional<int> status = process->Wait(kHangBound);
  process->ReadFor(milliseconds(100));
  ASSERT_TRUE(status.has_value()) << what << " hung after SIGTERM: " << process->output();
  EXPECT_TRUE(WIFEXITED(*status)) << what << " died of signal "
                                  << (WIFSIGNALED(*status) ? WTERMSIG(*status) : 0) << ": "
                                  << process->output();
  EXPECT_EQ(process->output().find("MISMATCH"), std::string::npos) << process->output();
  EXPECT_EQ(process->output().find("UNCLEAR"), std::string::npos) << process->output();
}

class HostilePeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PoolOptions options;
    options.size_bytes = 16ull << 20;
    ASSERT_TRUE(Pool::Create(pool_name_, options, &pool_).ok());
    path_ = pool_->path();
  }
  void TearDown() override {
    Pool::Remove(pool_name_);
    // What Pool::Remove leaves of a pool whose header is gone: it removes only pool files.
    ::unlink(path_.c_str());
    ::unlink((path_ + ".name.test.Echo").c_str());
  }

  std::string pool_name_ = UniquePoolName();
  std::string path_;
  std::shared_ptr<Pool> pool_;
};

// A stopped server is alive: its kernel lock stays held, so nothing reclaims it. Its callers' calls
// end at their deadline, and those without one end when it is killed, not never.
TEST_F(HostilePeerTest, AStoppedServersCallsMeetTheirDeadlineAndEndWhenItIsKilled) {
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 1);
  const uint64_t serving_used = pool_->Stats().heap_used_bytes;
  std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(Echo(channel.get(), "before", kHangBound).ok());

  ASSERT_TRUE(server->Stop());
  EXPECT_EQ(Echo(channel.get(), "stopped", milliseconds(200)).error_code(),
            StatusCode::DEADLINE_EXCEEDED);
  ClientContext without_deadline;
  std::future<CallResult> pending =
      channel->CallAsync("Echo", std::string(3000, 'p'), &without_deadline);
  std::future<Status> sync_pending = std::async(std::launch::async, [&] {
    ClientContext context;
    std::string response;
    return channel->Call("Echo", "waits", &response, &context);
  });
  std::this_thread::sleep_for(milliseconds(100));  // both calls wait for the stopped server
  server->Signal(SIGKILL);
  ASSERT_TRUE(server->Wait(kHangBound).has_value());
  ASSERT_EQ(pending.wait_for(kHangBound), std::future_status::ready) << "async call hung";
  EXPECT_EQ(pending.get().status.error_code(), StatusCode::UNAVAILABLE);
  ASSERT_EQ(sync_pending.wait_for(kHangBound), std::future_status::ready) << "sync call hung";
  EXPECT_EQ(sync_pending.get().error_code(), StatusCode::UNAVAILABLE);

  server = StartServer(pool_name_, 1);
  EXPECT_TRUE(Echo(channel.get(), "after", kHangBound).ok());
  channel.reset();
  EXPECT_EQ(WaitForUsedBytes(*pool_, serving_used), serving_used) << "the stopped server's "
                                                                     "memory did not come back";
  StopServer(server.get());
}

// Any process that may open the pool file may shorten it. Every other process maps it whole, and
// a read past the new end raises SIGBUS: that costs them the pool, not their lives. Each learns
// it at its next call, with a status that says what happened.
TEST_F(HostilePeerTest, AProcessThatShortensThePoolFileKillsNobody) {
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 2);
  PeerProcess client({"load", pool_name_, "1", "2"});
  ASSERT_TRUE(client.WaitForLine("ready", kStartBound)) << client.output();
  std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(Echo(channel.get(), std::string(3000, 'a'), kHangBound).ok());

  int fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::ftruncate(fd, 0), 0) << std::strerror(errno);
  ::close(fd);
  // Calls on the open connection may still go through its segments until this process reads a
  // page of the pool; from then on every call fails at once.
  Status status;
  for (auto give_up = Clock::now() + kHangBound; Clock::now() < give_up;) {
    status = Echo(channel.get(), std::string(3000, 'b'), seconds(1));
    if (status.error_code() == StatusCode::FAILED_PRECONDITION) break;
  }
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION) << status.ToString();
  EXPECT_NE(status.error_message().find("was shortened by another process"), std::string::npos)
      << status.ToString();
  std::shared_ptr<Channel> another;
  status = Channel::Connect(pool_, "test.Echo", ChannelOptions(), &another);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION) << status.ToString();

  ExpectExitsCleanly(&client, "the client");
  ExpectExitsCleanly(server.get(), "the server");
}

// A process that may write the pool file overwrites every word of it, all at once and over and
// over (all ones, arbitrary bytes, all zeros), while another process calls a server in a third.
// The pool is lost, but neither process crashes, hangs or takes another answer for its own.
TEST_F(HostilePeerTest, AProcessThatOverwritesTheWholePoolChangesNoAnswer) {
  pool_.reset();  // the test process is the attacker: it maps the pool only to overwrite it
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 2);
  PeerProcess client({"load", pool_name_, "2", "2"});
  ASSERT_TRUE(client.WaitForLine("ready", kStartBound)) << client.output();

  int fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  struct stat file;
  ASSERT_EQ(::fstat(fd, &file), 0);
  void* mapped = ::mmap(nullptr, file.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  ASSERT_NE(mapped, MAP_FAILED);
  auto* bytes = static_cast<uint8_t*>(mapped);
  for (int round = 0; round < 30; ++round) {
    if (round % 3 == 1) {
      std::atomic<bool> stop{false};
      std::thread scribbler(
          [&] { testing::ScribbleUntil(bytes, file.st_size, file.st_size, stop); });
      std::this_thread::sleep_for(milliseconds(20));
      stop = true;
      scribbler.join();
    } else {
      std::memset(bytes, round % 3 == 0 ? 0xff : 0, file.st_size);
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  ::munmap(mapped, file.st_size);
  client.ReadFor(milliseconds(200));

  ExpectExitsCleanly(&client, "the client");
  ExpectExitsCleanly(server.get(), "the server");
}

// Clients that keep every block they can get fill the pool's heap (each stops at its channel's
// quota, half the heap, or when nothing is left). Another client is refused with RESOURCE_EXHAUSTED
// saying so, and is served again once they are killed, with all their memory back.
TEST_F(HostilePeerTest, ClientsThatTakeTheWholeHeapLeaveNothingOnceKilled) {
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 1);
  const uint64_t serving_used = pool_->Stats().heap_used_bytes;
  std::vector<std::unique_ptr<PeerProcess>> hogs;
  for (int i = 0; i < 3; ++i) {
    hogs.push_back(std::make_unique<PeerProcess>(std::vector<std::string>{"hog", pool_name_}));
    ASSERT_TRUE(hogs.back()->WaitForLineStarting("hogging", kStartBound)) << hogs.back()->output();
    EXPECT_NE(hogs.back()->output().find("RESOURCE_EXHAUSTED"), std::string::npos)
        << hogs.back()->output();
  }

  ChannelOptions options;
  options.connection_arena_bytes = 0;
  std::shared_ptr<Channel> bystander;
  Status status = Channel::Connect(pool_, "test.Echo", options, &bystander);
  if (status.ok()) status = Echo(bystander.get(), std::string(50000, 'b'), kHangBound);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.ToString();
  EXPECT_NE(status.error_message().find("has no free block"), std::string::npos)
      << status.ToString();

  for (auto& hog : hogs) {
    hog->Signal(SIGKILL);
    ASSERT_TRUE(hog->Wait(kHangBound).has_value());
  }
  bystander.reset();
  EXPECT_EQ(WaitForUsedBytes(*pool_, serving_used), serving_used) << "the hogs' memory stayed";
  bystander = ConnectToTestService(pool_, true);
  ASSERT_NE(bystander, nullptr);
  EXPECT_TRUE(Echo(bystander.get(), std::string(50000, 'b'), kHangBound).ok());
  bystander.reset();
  StopServer(server.get());
}

// A server shuts down beside a client that is stopped while it calls: nothing waits for the
// client. Once the client is killed too, both ends of its connection are dead, and the service's
// next server frees what they held.
TEST_F(HostilePeerTest, AServerShutsDownBesideAStoppedClientThatLeavesNothingOnceKilled) {
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 2);
  const uint64_t serving_used = pool_->Stats().heap_used_bytes;
  PeerProcess client({"load", pool_name_, "3", "3"});
  ASSERT_TRUE(client.WaitForLine("ready", kStartBound)) << client.output();
  ASSERT_TRUE(client.Stop());
  StopServer(server.get());
  client.Signal(SIGKILL);
  ASSERT_TRUE(client.Wait(kHangBound).has_value());
  server = StartServer(pool_name_, 2);
  EXPECT_EQ(WaitForUsedBytes(*pool_, serving_used), serving_used)
      << "the stopped, then killed client's connection was not freed";
  StopServer(server.get());
}

// A channel destroyed while its server is stopped does not wait for the server: its outstanding
// calls end CANCELLED at once, and the server frees the connection once it runs again.
TEST_F(HostilePeerTest, AChannelDestroyedBesideAStoppedServerCancelsItsCallsAtOnce) {
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 1);
  const uint64_t serving_used = pool_->Stats().heap_used_bytes;
  std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(Echo(channel.get(), "before", kHangBound).ok());
  ASSERT_TRUE(server->Stop());
  ClientContext inline_call, block_call;
  std::future<CallResult> small = channel->CallAsync("Echo", "small", &inline_call);
  std::future<CallResult> large = channel->CallAsync("Echo", std::string(5000, 'l'), &block_call);
  std::future<void> destroyed = std::async(std::launch::async, [&] { channel.reset(); });
  ASSERT_EQ(destroyed.wait_for(kHangBound), std::future_status::ready)
      << "destroying the channel waits for the stopped server";
  for (std::future<CallResult>* call : {&small, &large}) {
    ASSERT_EQ(call->wait_for(kHangBound), std::future_status::ready);
    EXPECT_EQ(call->get().status.error_code(), StatusCode::CANCELLED);
  }
  server->Signal(SIGCONT);
  EXPECT_EQ(WaitForUsedBytes(*pool_, serving_used), serving_used)
      << "the destroyed channel's connection was not freed";
  StopServer(server.get());
}

// A process that attaches the pool until its lease table is full (one record per attached Pool)
// keeps other processes out, with RESOURCE_EXHAUSTED saying so, but not those already in; once
// it is killed, the next process to attach frees its records and gets in.
TEST_F(HostilePeerTest, AProcessThatFillsTheLeaseTableKeepsOthersOutOnlyWhileItLives) {
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 1);
  std::shared_ptr<Channel> bystander = ConnectToTestService(pool_);
  ASSERT_NE(bystander, nullptr);
  PeerProcess flooder({"attach-flood", pool_name_});
  ASSERT_TRUE(flooder.WaitForLineStarting("attached", kStartBound)) << flooder.output();
  EXPECT_NE(flooder.output().find("lease table"), std::string::npos) << flooder.output();

  EXPECT_TRUE(Echo(bystander.get(), std::string(3000, 'b'), kHangBound).ok());
  std::shared_ptr<Pool> late;
  Status status = Pool::Attach(pool_name_, &late);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.ToString();
  EXPECT_NE(status.error_message().find("lease table"), std::string::npos) << status.ToString();

  flooder.Signal(SIGKILL);
  ASSERT_TRUE(flooder.Wait(kHangBound).has_value());
  PeerProcess caller({"call", pool_name_, "Echo", "after", "3000"});
  std::optional<int> exit = caller.Wait(kHangBound);
  caller.ReadFor(milliseconds(100));
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << caller.output();
  bystander.reset();
  StopServer(server.get());
}

// A process that shortens the pool file and makes it whole again, over and over, while another
// attaches it: the attacher reads the header of a file that may have shrunk since it looked at
// its size, and must fail cleanly rather than die of SIGBUS.
TEST_F(HostilePeerTest, ShorteningThePoolFileOverAndOverKillsNoAttacher) {
  pool_.reset();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> shortenings{0};
  std::thread shortener([&] {
    int fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    struct stat file;
    ASSERT_EQ(::fstat(fd, &file), 0);
    while (!stop.load()) {
      ASSERT_EQ(::ftruncate(fd, 0), 0);
      ASSERT_EQ(::ftruncate(fd, file.st_size), 0);
      shortenings.fetch_add(1);
    }
    ::close(fd);
  });
  // Attaches that come before the first shortening succeed; later ones find no pool.
  for (int i = 0; i < 20000; ++i) {
    std::shared_ptr<Pool> pool;
    Pool::Attach(pool_name_, &pool);
  }
  stop = true;
  shortener.join();
  EXPECT_GT(shortenings.load(), 0u);
}

}  // namespace
}  // namespace notnets::process_test
