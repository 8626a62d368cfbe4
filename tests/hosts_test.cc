// Liveness across pid namespaces on one kernel (ctest label `hosts`): a server and its client in
// different pid namespaces (unshare --pid) see each other alive, and the client sees the server's
// death. Needs root and util-linux unshare; skipped otherwise.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "notnets/channel.h"
#include "notnets/client_context.h"
#include "notnets/pool.h"
#include "process_harness.h"

namespace notnets::process_test {
namespace {

// Runs the peer as pid 1 of a new pid namespace (with its own /proc). --kill-child: SIGKILL of
// unshare kills the whole namespace, as kill -9 of a container's init would.
const std::vector<std::string> kOwnPidNamespace = {"/usr/bin/unshare", "--pid", "--mount-proc",
                                                   "--kill-child"};

class HostsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for unshare --pid";
    if (::access(kOwnPidNamespace[0].c_str(), X_OK) != 0) {
      GTEST_SKIP() << kOwnPidNamespace[0] << " is not available";
    }
    // unshare may exist yet be refused (a container without CAP_SYS_ADMIN, seccomp): probe it.
    PeerProcess probe({"no-such-mode"}, {}, kOwnPidNamespace);
    std::optional<int> status = probe.Wait(kHangBound);
    if (!status.has_value() || !WIFEXITED(*status) || WEXITSTATUS(*status) != 2) {
      GTEST_SKIP() << "unshare --pid does not run here";
    }
    ASSERT_TRUE(Pool::Create(pool_name_, PoolOptions(), &pool_).ok());
  }

  void TearDown() override { Pool::Remove(pool_name_); }

  std::string pool_name_ = UniquePoolName();
  std::shared_ptr<Pool> pool_;
};

TEST_F(HostsTest, ClientOnTheHostSeesAServerInItsOwnPidNamespaceLiveAndDead) {
  auto server = std::make_unique<PeerProcess>(std::vector<std::string>{"serve", pool_name_, "2"},
                                              std::vector<std::string>{}, kOwnPidNamespace);
  ASSERT_TRUE(server->WaitForLine("ready", kStartBound)) << "the server did not start";
  std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
  ASSERT_NE(channel, nullptr);
  std::string response;
  ClientContext echo;
  Status status = channel->Call("Echo", "across namespaces", &response, &echo);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(response, "across namespaces");

  ClientContext context;
  context.set_timeout(std::chrono::seconds(60));
  std::future<CallResult> outstanding = channel->CallAsync("Sleep", "60000", &context);
  server->Signal(SIGKILL);
  ASSERT_TRUE(server->Wait(kHangBound).has_value());
  ASSERT_EQ(outstanding.wait_for(kHangBound), std::future_status::ready)
      << "the outstanding call did not end after the server's death";
  CallResult result = outstanding.get();
  EXPECT_EQ(result.status.error_code(), StatusCode::UNAVAILABLE) << result.status.ToString();
}

TEST_F(HostsTest, ClientInItsOwnPidNamespaceSeesAServerOnTheHostLiveAndDead) {
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 2);
  {
    PeerProcess client({"call", pool_name_, "Echo", "across namespaces"}, {}, kOwnPidNamespace);
    EXPECT_TRUE(client.WaitForLine("status=0 bytes=17", kHangBound)) << client.output();
  }
  PeerProcess sleeper({"call", pool_name_, "Sleep", "60000"}, {}, kOwnPidNamespace);
  // The client has connected once the service counts a second accepted connection.
  auto accepted = [&] {
    PoolStats stats = pool_->Stats();
    return !stats.services.empty() && stats.services[0].connections_accepted >= 2;
  };
  for (auto give_up = Clock::now() + kHangBound; !accepted() && Clock::now() < give_up;) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_TRUE(accepted()) << "the second client did not connect";
  server->Signal(SIGKILL);
  ASSERT_TRUE(server->Wait(kHangBound).has_value());
  std::string unavailable = "status=" + std::to_string(static_cast<int>(StatusCode::UNAVAILABLE));
  EXPECT_TRUE(sleeper.WaitForLine(unavailable + " bytes=0", kHangBound)) << sleeper.output();
}

}  // namespace
}  // namespace notnets::process_test
