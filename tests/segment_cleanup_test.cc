// No segment file outlives its creator (ctest label `faults`): clients and servers killed with
// kill -9 before their connection was accepted, right after, and in the middle of a call leave
// files that only their names keep alive (docs/protocol.md, "Segment files"); the survivors, or
// a later process that opens the pool, remove them, and the pool's memory comes back.
#include <signal.h>

#include <string>
#include <vector>

#include "process_harness.h"

namespace notnets::process_test {
namespace {

// How long the survivors may take: a bound for "did not hang" only. The server looks for the
// files of dead processes every second (ServerRuntime::kOrphanSweepInterval).
constexpr milliseconds kCleanupBound = seconds(20);

std::string CrashAt(const std::string& point) { return "NOTNETS_CRASH_AT=" + point; }

// Waits until the pool has no segment file ending with `suffix`; returns those left.
std::vector<std::string> WaitForNoSegmentFiles(const std::string& pool_path,
                                               const std::string& suffix = "") {
  auto give_up = Clock::now() + kCleanupBound;
  std::vector<std::string> left = SegmentFiles(pool_path, suffix);
  while (!left.empty() && Clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(20));
    left = SegmentFiles(pool_path, suffix);
  }
  return left;
}

class SegmentCleanupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NOTNETS_SKIP_WITHOUT_CRASH_POINTS();
    ASSERT_TRUE(Pool::Create(pool_name_, PoolOptions(), &pool_).ok());
    empty_used_ = HeapUsed();
  }
  void TearDown() override {
    pool_.reset();
    Pool::Remove(pool_name_);
  }

  uint64_t HeapUsed() const { return pool_->Stats().heap_used_bytes; }

  // Waits until the heap holds `expected` bytes; returns the last value seen.
  uint64_t WaitForHeapUsed(uint64_t expected) const {
    auto give_up = Clock::now() + kCleanupBound;
    uint64_t used = HeapUsed();
    while (used != expected && Clock::now() < give_up) {
      std::this_thread::sleep_for(milliseconds(20));
      used = HeapUsed();
    }
    return used;
  }

  // Runs a client that calls Sleep and dies at `point` (kill -9 of itself).
  void RunClientDyingAt(const std::string& point) {
    PeerProcess client({"call", pool_name_, "Sleep", "60000"}, {CrashAt(point)});
    std::optional<int> status = client.Wait(kHangBound);
    ASSERT_TRUE(status.has_value()) << point << ": the client did not die";
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
        << point << ": wait status " << *status << ", output: " << client.output();
  }

  void ExpectServing(const std::shared_ptr<Channel>& channel) {
    ClientContext context;
    context.set_timeout(kHangBound);
    std::string response;
    Status status = channel->Call("Echo", "still serving", &response, &context);
    EXPECT_TRUE(status.ok()) << status.ToString();
  }

  std::string pool_name_ = UniquePoolName();
  std::shared_ptr<Pool> pool_;
  uint64_t empty_used_ = 0;
};

TEST_F(SegmentCleanupTest, TheServerRemovesTheFilesOfClientsKilledAtAnyPoint) {
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 2);
  std::shared_ptr<Channel> bystander = ConnectToTestService(pool_);
  ASSERT_NE(bystander, nullptr);
  ExpectServing(bystander);
  const uint64_t serving_used = HeapUsed();

  // Before the accept: the server is stopped while the client connects and dies.
  ASSERT_TRUE(server->Stop());
  RunClientDyingAt("client.after_push_connection");
  EXPECT_FALSE(SegmentFiles(pool_->path(), "").empty()) << "the client left no file to remove";
  server->Signal(SIGCONT);
  EXPECT_EQ(WaitForNoSegmentFiles(pool_->path()), std::vector<std::string>())
      << "killed before its connection was accepted";

  // Right after the accept, and in the middle of a call.
  for (const char* point : {"client.before_publish_request", "client.after_publish_request"}) {
    RunClientDyingAt(point);
    EXPECT_EQ(WaitForNoSegmentFiles(pool_->path()), std::vector<std::string>())
        << "killed at " << point;
  }
  EXPECT_EQ(WaitForHeapUsed(serving_used), serving_used);
  ExpectServing(bystander);
  bystander.reset();
  StopServer(server.get());
  EXPECT_EQ(SegmentFiles(pool_->path(), ""), std::vector<std::string>());
  EXPECT_EQ(HeapUsed(), empty_used_);
}

TEST_F(SegmentCleanupTest, ClientsRemoveTheFilesOfServersKilledAtAnyPoint) {
  for (const char* point :
       {"server.after_accept", "server.after_read_request", "server.before_publish_response"}) {
    // One worker: the call dies with the server, not on a second worker (fault_injection_test.cc).
    std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 1, {CrashAt(point)});
    std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
    ASSERT_NE(channel, nullptr);
    ClientContext context;
    context.set_timeout(kHangBound);
    std::string response;
    EXPECT_FALSE(channel->Call("Echo", "dies", &response, &context).ok()) << point;
    ASSERT_TRUE(server->Wait(kHangBound).has_value()) << point;
    // The server's files, while this client (the survivor) still holds its connection.
    EXPECT_EQ(WaitForNoSegmentFiles(pool_->path(), ".s"), std::vector<std::string>())
        << "killed at " << point;
    channel.reset();
    EXPECT_EQ(SegmentFiles(pool_->path(), ""), std::vector<std::string>()) << point;
  }
  // A server started after them reclaims their directory entries; everything else came back
  // when their connections were released.
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 1);
  std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
  ASSERT_NE(channel, nullptr);
  ExpectServing(channel);
  channel.reset();
  StopServer(server.get());
  EXPECT_EQ(WaitForHeapUsed(empty_used_), empty_used_);
  EXPECT_EQ(SegmentFiles(pool_->path(), ""), std::vector<std::string>());
}

TEST_F(SegmentCleanupTest, ALaterProcessRemovesTheFilesOfAPoolWhoseProcessesAllDied) {
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 1);
  ASSERT_TRUE(server->Stop());
  RunClientDyingAt("client.after_push_connection");
  server->Signal(SIGKILL);
  ASSERT_TRUE(server->Wait(kHangBound).has_value());
  ASSERT_FALSE(SegmentFiles(pool_->path(), "").empty()) << "the client left no file to remove";
  // Nobody is left to look; whoever opens the pool next does.
  std::shared_ptr<Pool> later;
  ASSERT_TRUE(Pool::Attach(pool_name_, &later).ok());
  EXPECT_EQ(SegmentFiles(pool_->path(), ""), std::vector<std::string>());
}

}  // namespace
}  // namespace notnets::process_test
