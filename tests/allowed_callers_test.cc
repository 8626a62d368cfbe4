// A service accepts only the callers it allows (ServerBuilder::AllowCallerUid, AllowCallerGid,
// AllowAnyCaller; by default its own uid): others' calls fail with PERMISSION_DENIED naming them
// and the service, and the server's other callers are not affected. The tests act as other users
// on one thread (as connection_segments_test.cc does), so they run only as root (as CI does).
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "notnets/channel.h"
#include "notnets/client_context.h"
#include "notnets/pool.h"
#include "notnets/server.h"
#include "test_pool.h"
#include "thread_acts_as.h"

namespace notnets {
namespace {

constexpr uint32_t kFriend = 54341;
constexpr uint32_t kStranger = 54342;
constexpr uint32_t kTeam = 54343;  // a group

using testing::ThreadActsAs;

class AllowedCallersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as other users";
    ASSERT_TRUE(Pool::Attach(pool_.name(), &server_pool_).ok());
    ASSERT_TRUE(Pool::Attach(pool_.name(), &client_pool_).ok());
    service_.AddMethod("Echo", [this](ServerContext* context, const ReceivedMessage& request,
                                      ServerResponse* response) {
      std::lock_guard<std::mutex> lock(mutex_);
      callers_.push_back(context->peer_identity().uid);
      response->Copy(request.view());
      return Status::OK;
    });
  }
  void TearDown() override {
    root_channel_.reset();
    if (server_ != nullptr) server_->Shutdown();
  }

  // Starts the server as `builder` says, as root, and a channel of root's. That first channel
  // starts the process's channel janitor (channel_janitor.h), which must act as root: a thread
  // keeps the user of the thread that started it, and a janitor acting as another user could not
  // open the server's segments of root's connections.
  void Start(ServerBuilder builder) {
    Status started = builder.RegisterService(&service_).BuildAndStart(&server_);
    ASSERT_TRUE(started.ok()) << started.ToString();
    ASSERT_TRUE(
        Channel::Connect(client_pool_, service_.name(), ChannelOptions(), &root_channel_).ok());
  }

  // One call of a new channel made by user `uid` of group `gid`.
  Status CallAs(uid_t uid, gid_t gid, std::string* response) {
    ThreadActsAs user(uid, gid);
    if (!user.ok) return Status(StatusCode::INTERNAL, "cannot act as another user");
    std::shared_ptr<Channel> channel;
    Status status = Channel::Connect(client_pool_, service_.name(), ChannelOptions(), &channel);
    if (!status.ok()) return status;
    ClientContext context;
    return channel->Call("Echo", "hello", response, &context);
  }

  testing::TestPool pool_;
  std::shared_ptr<Pool> server_pool_;
  std::shared_ptr<Pool> client_pool_;
  Service service_{"test.Guarded"};
  // Locked because ThreadSanitizer cannot see the call's own ordering (client and server reach
  // the rings through two mappings of one file).
  std::mutex mutex_;
  std::vector<uint32_t> callers_;  // the uid of each call a handler ran
  std::unique_ptr<Server> server_;
  std::shared_ptr<Channel> root_channel_;
};

TEST_F(AllowedCallersTest, ByDefaultAnotherUserIsRefusedWithPermissionDeniedNamingItAndTheService) {
  Start(ServerBuilder(server_pool_));
  std::string response;
  Status refused = CallAs(kStranger, kStranger, &response);
  EXPECT_EQ(refused.error_code(), StatusCode::PERMISSION_DENIED) << refused.ToString();
  EXPECT_NE(refused.error_message().find("uid " + std::to_string(kStranger)), std::string::npos)
      << refused.error_message();
  EXPECT_NE(refused.error_message().find("'test.Guarded'"), std::string::npos)
      << refused.error_message();
  EXPECT_NE(refused.error_message().find("AllowCallerUid(" + std::to_string(kStranger) + ")"),
            std::string::npos)
      << refused.error_message();
  // The server's own user still calls it; no handler ran for the stranger.
  Status own = CallAs(0, 0, &response);
  EXPECT_TRUE(own.ok()) << own.ToString();
  EXPECT_EQ(response, "hello");
  std::lock_guard<std::mutex> lock(mutex_);
  EXPECT_EQ(callers_, std::vector<uint32_t>{0});
}

TEST_F(AllowedCallersTest, AListedUidOrGroupMayCallAndNoOneElse) {
  Start(ServerBuilder(server_pool_).AllowCallerUid(kFriend).AllowCallerGid(kTeam));
  std::string response;
  Status by_uid = CallAs(kFriend, kFriend, &response);
  EXPECT_TRUE(by_uid.ok()) << by_uid.ToString();
  Status by_group = CallAs(kStranger, kTeam, &response);
  EXPECT_TRUE(by_group.ok()) << by_group.ToString();
  Status stranger = CallAs(kStranger, kStranger, &response);
  EXPECT_EQ(stranger.error_code(), StatusCode::PERMISSION_DENIED) << stranger.ToString();
  std::lock_guard<std::mutex> lock(mutex_);
  EXPECT_EQ(callers_, (std::vector<uint32_t>{kFriend, kStranger}));
}

// The server's own mappings of its segments (writable and shared: the client maps them read-only).
size_t ServerSegmentMappings(const std::string& pool_path) {
  std::ifstream maps("/proc/self/maps");
  size_t count = 0;
  for (std::string line; std::getline(maps, line);) {
    size_t name = line.find(pool_path + ".seg.");
    if (name == std::string::npos || line.find(" rw-s ") == std::string::npos) continue;
    std::string file = line.substr(name);
    if (size_t deleted = file.find(" (deleted)"); deleted != std::string::npos) {
      file.resize(deleted);
    }
    if (file.size() > 2 && file.compare(file.size() - 2, 2, ".s") == 0) ++count;
  }
  return count;
}

// A caller that keeps opening connections it may not have, and never uses or leaves them (as a
// hostile client would), costs the server at most ServerRuntime::kMostRefusedPerClient of them at
// once, not one per connection.
TEST_F(AllowedCallersTest, ACallerFloodingRefusedConnectionsCostsTheServerABoundedAmount) {
  constexpr int kChannels = 40;
  constexpr size_t kMostKept = 8;  // ServerRuntime::kMostRefusedPerClient
  Start(ServerBuilder(server_pool_));
  std::vector<std::shared_ptr<Channel>> held;
  {
    ThreadActsAs user(kStranger, kStranger);
    ASSERT_TRUE(user.ok);
    for (int i = 0; i < kChannels; ++i) {
      std::shared_ptr<Channel> channel;
      ASSERT_TRUE(Channel::Connect(client_pool_, service_.name(), ChannelOptions(), &channel).ok());
      held.push_back(std::move(channel));
    }
  }
  // A connection of root's made after them: once its call is answered, the server has taken (and
  // refused) theirs, which it would otherwise keep for ServerRuntime::kRefusalHold.
  std::string response;
  Status own = CallAs(0, 0, &response);
  ASSERT_TRUE(own.ok()) << own.ToString();
  // Two connections of root's (Start's and CallAs's), plus at most the kept refusals.
  EXPECT_LE(ServerSegmentMappings(server_pool_->path()), kMostKept + 2);
}

TEST_F(AllowedCallersTest, AServerThatAllowsAnyCallerTakesEveryUser) {
  Start(ServerBuilder(server_pool_).AllowAnyCaller());
  std::string response;
  Status stranger = CallAs(kStranger, kStranger, &response);
  EXPECT_TRUE(stranger.ok()) << stranger.ToString();
  EXPECT_EQ(response, "hello");
}

TEST_F(AllowedCallersTest, ThePoolsStatsShowWhoMayCall) {
  Start(ServerBuilder(server_pool_).AllowCallerUid(kFriend).AllowCallerGid(kTeam));
  PoolStats stats = client_pool_->Stats();
  ASSERT_EQ(stats.services.size(), 1u);
  const PoolStats::ServiceInfo& shown = stats.services[0];
  EXPECT_EQ(shown.server_uid, 0u);
  EXPECT_EQ(shown.caller_uids, (std::vector<uint32_t>{0, kFriend}));
  EXPECT_EQ(shown.caller_gids, std::vector<uint32_t>{kTeam});
  EXPECT_FALSE(shown.any_caller);
  EXPECT_FALSE(shown.callers_cut_short);
}

TEST_F(AllowedCallersTest, ALongListIsShownCutShort) {
  ServerBuilder builder(server_pool_);
  for (uint32_t uid = 1000; uid < 1010; ++uid) builder.AllowCallerUid(uid);
  Start(std::move(builder));
  PoolStats stats = client_pool_->Stats();
  ASSERT_EQ(stats.services.size(), 1u);
  EXPECT_EQ(stats.services[0].caller_uids,
            (std::vector<uint32_t>{0, 1000, 1001, 1002, 1003, 1004}));
  EXPECT_TRUE(stats.services[0].callers_cut_short);
}

}  // namespace
}  // namespace notnets
