// A client killed (kill -9) while it connects, before any server took its connection
// (docs/crash-matrix.md, step 1, and G1): the connection block is on no pending stack, or its
// header was not even written, so neither the server's client checks nor a later server's
// orphan sweep would ever free it. The live server's own sweep does
// (FreeUnacceptedConnectionsOfDeadClients): the pool's used bytes come back to what they were
// before the client came, and the client's segment file goes, while the server keeps serving.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "process_harness.h"

namespace notnets::process_test {
namespace {

// How long the server may take: a bound for "did not hang" only. It sweeps every second
// (ServerRuntime::kOrphanSweepInterval).
constexpr milliseconds kReclaimBound = seconds(20);

class UnacceptedConnectionTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    NOTNETS_SKIP_WITHOUT_CRASH_POINTS();
    ASSERT_TRUE(Pool::Create(pool_name_, PoolOptions(), &pool_).ok());
  }
  void TearDown() override {
    pool_.reset();
    Pool::Remove(pool_name_);
  }

  uint64_t HeapUsed() const { return pool_->Stats().heap_used_bytes; }

  // The pool's segment files that are not among `before`.
  std::vector<std::string> FilesBeyond(const std::vector<std::string>& before) const {
    std::vector<std::string> beyond;
    for (const std::string& file : SegmentFiles(pool_->path(), "")) {
      if (std::find(before.begin(), before.end(), file) == before.end()) beyond.push_back(file);
    }
    return beyond;
  }

  // Waits until the heap holds `expected` bytes and the pool has no segment file beyond
  // `before`; returns the heap's used bytes at the end.
  uint64_t WaitForReclaim(uint64_t expected, const std::vector<std::string>& before) const {
    auto give_up = Clock::now() + kReclaimBound;
    while ((HeapUsed() != expected || !FilesBeyond(before).empty()) && Clock::now() < give_up) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    return HeapUsed();
  }

  std::string pool_name_ = UniquePoolName();
  std::shared_ptr<Pool> pool_;
};

TEST_P(UnacceptedConnectionTest, TheLiveServerFreesTheConnectionOfAClientKilledWhileConnecting) {
  const std::string point = GetParam();
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 2);
  std::shared_ptr<Channel> bystander = ConnectToTestService(pool_);
  ASSERT_NE(bystander, nullptr);
  ClientContext warm_up;
  warm_up.set_timeout(kHangBound);
  std::string response;
  ASSERT_TRUE(bystander->Call("Echo", "warm up", &response, &warm_up).ok());
  const uint64_t serving_used = HeapUsed();
  const std::vector<std::string> serving_files = SegmentFiles(pool_->path(), "");

  PeerProcess client({"call", pool_name_, "Echo", "never sent"}, {"NOTNETS_CRASH_AT=" + point});
  std::optional<int> status = client.Wait(kHangBound);
  ASSERT_TRUE(status.has_value()) << point << ": the client did not die";
  ASSERT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
      << point << ": wait status " << *status << ", output: " << client.output();

  uint64_t used = WaitForReclaim(serving_used, serving_files);
  EXPECT_EQ(used, serving_used) << "killed at " << point << ": "
                                << static_cast<int64_t>(used - serving_used)
                                << " bytes never came back";
  EXPECT_EQ(FilesBeyond(serving_files), std::vector<std::string>()) << "killed at " << point;
  EXPECT_TRUE(server->running());
  ClientContext after;
  after.set_timeout(kHangBound);
  Status served = bystander->Call("Echo", "still serving", &response, &after);
  EXPECT_TRUE(served.ok()) << served.ToString();
  bystander.reset();
  StopServer(server.get());
}

// Before the client wrote the connection's header (nothing names a service: only the block's
// creator says whose it is), and after it wrote it but before it pushed the connection.
INSTANTIATE_TEST_SUITE_P(CrashPoints, UnacceptedConnectionTest,
                         ::testing::Values("client.after_allocate_connection",
                                           "client.before_push_connection"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.index == 0 ? "BeforeItsHeaderIsWritten"
                                                              : "BeforeItIsPushed");
                         });

}  // namespace
}  // namespace notnets::process_test
