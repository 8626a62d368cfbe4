// A service name belongs to the uid that first registered it: only that uid, and the uids it
// lists (ServerBuilder::AllowRegistrantUid), may register servers under it, whether its servers
// are live, closing or dead; others get PERMISSION_DENIED naming the owner, and the owner's
// clients keep calling its servers. The tests act as other users on one thread (as
// connection_segments_test.cc does), so they run only as root (as CI does).
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "notnets/channel.h"
#include "notnets/client_context.h"
#include "notnets/pool.h"
#include "notnets/server.h"
#include "pool/directory.h"
#include "pool/pool_access.h"
#include "pool/service_access.h"
#include "test_pool.h"
#include "thread_acts_as.h"

namespace notnets {
namespace {

constexpr uint32_t kFriend = 54351;
constexpr uint32_t kStranger = 54352;
constexpr char kName[] = "test.Owned";

using testing::ThreadActsAs;

class NameOwnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as other users";
    for (Service* service : {&owners_, &others_}) {
      service->AddMethod("Who",
                         [](ServerContext*, const ReceivedMessage&, ServerResponse* response) {
                           response->Copy("served");
                           return Status::OK;
                         });
    }
  }

  // Starts a replica of kName as user `uid` (root when 0), listing `registrants`.
  Status StartAs(uid_t uid, Service* service, const std::vector<uint32_t>& registrants,
                 std::unique_ptr<Server>* server) {
    ThreadActsAs user(uid);
    if (!user.ok) return Status(StatusCode::INTERNAL, "cannot act as another user");
    ServerBuilder builder(pool_.pool());
    builder.RegisterService(service).ServeAsReplica().AllowAnyCaller();
    for (uint32_t registrant : registrants) builder.AllowRegistrantUid(registrant);
    return builder.BuildAndStart(server);
  }

  // The owner the pool's stats show for every entry of kName; -1 if they disagree or none.
  int64_t ShownOwner() {
    int64_t owner = -1;
    for (const PoolStats::ServiceInfo& info : pool_.pool()->Stats().services) {
      if (info.name != kName) continue;
      if (owner != -1 && owner != info.owner_uid) return -1;
      owner = info.owner_uid;
    }
    return owner;
  }

  testing::TestPool pool_;
  Service owners_{kName};
  Service others_{kName};
};

TEST_F(NameOwnerTest, AnotherUserCannotRegisterUnderALiveNameAndItsCallersAreNotAffected) {
  std::unique_ptr<Server> owner;
  ASSERT_TRUE(StartAs(0, &owners_, {}, &owner).ok());
  std::unique_ptr<Server> intruder;
  Status refused = StartAs(kStranger, &others_, {}, &intruder);
  EXPECT_EQ(refused.error_code(), StatusCode::PERMISSION_DENIED) << refused.ToString();
  EXPECT_NE(refused.error_message().find("'test.Owned' belongs to uid 0"), std::string::npos)
      << refused.error_message();
  EXPECT_NE(refused.error_message().find("uid " + std::to_string(kStranger)), std::string::npos)
      << refused.error_message();
  EXPECT_EQ(intruder, nullptr);
  EXPECT_EQ(ShownOwner(), 0);
  std::shared_ptr<Channel> channel;
  ASSERT_TRUE(Channel::Connect(pool_.pool(), kName, ChannelOptions(), &channel).ok());
  std::string response;
  ClientContext context;
  Status called = channel->Call("Who", "", &response, &context);
  EXPECT_TRUE(called.ok()) << called.ToString();
  channel.reset();
  owner->Shutdown();
}

TEST_F(NameOwnerTest, ADeadServersNameStaysItsOwners) {
  std::shared_ptr<Pool> pool = pool_.pool();
  internal::PoolMapping& mapping = internal::PoolAccess::mapping(*pool);
  internal::Allocator allocator(&mapping);
  internal::Directory directory(&mapping, &allocator);
  internal::ServiceRef dead;
  ASSERT_TRUE(directory.Register(kName, {"Who"}, internal::Directory::kOwnDoorbell, &dead).ok());
  // A token no live process holds: its server is dead.
  directory.entry(dead.index)->server_token.fetch_add(1);

  std::unique_ptr<Server> intruder;
  Status refused = StartAs(kStranger, &others_, {}, &intruder);
  EXPECT_EQ(refused.error_code(), StatusCode::PERMISSION_DENIED) << refused.ToString();
  EXPECT_EQ(ShownOwner(), 0);
  // The owner takes its dead server's entry over.
  std::unique_ptr<Server> owner;
  Status restarted = StartAs(0, &owners_, {}, &owner);
  EXPECT_TRUE(restarted.ok()) << restarted.ToString();
  if (owner != nullptr) owner->Shutdown();
}

TEST_F(NameOwnerTest, AUserTheOwnerListsMayTakeOverADeadServersName) {
  std::shared_ptr<Pool> pool = pool_.pool();
  internal::PoolMapping& mapping = internal::PoolAccess::mapping(*pool);
  internal::Allocator allocator(&mapping);
  internal::Directory directory(&mapping, &allocator);
  internal::RegistrationAccess access;
  access.registrants = {kFriend};
  internal::ServiceRef dead;
  ASSERT_TRUE(directory
                  .Register(kName, {"Who"}, internal::Directory::kOwnDoorbell, &dead,
                            internal::ReplicaMode::kReplica, access)
                  .ok());
  directory.entry(dead.index)->server_token.fetch_add(1);

  std::unique_ptr<Server> successor;
  Status started = StartAs(kFriend, &others_, {}, &successor);
  ASSERT_TRUE(started.ok()) << started.ToString();
  EXPECT_EQ(ShownOwner(), 0);
  successor->Shutdown();
}

TEST_F(NameOwnerTest, TheOwnersServersRunSideBySide) {
  std::unique_ptr<Server> first;
  ASSERT_TRUE(StartAs(0, &owners_, {}, &first).ok());
  std::unique_ptr<Server> second;
  Status started = StartAs(0, &others_, {}, &second);
  EXPECT_TRUE(started.ok()) << started.ToString();
  if (second != nullptr) second->Shutdown();
  first->Shutdown();
}

TEST_F(NameOwnerTest, AUserTheOwnerListsMayRegisterReplicasAndTheNameStaysTheOwners) {
  std::unique_ptr<Server> owner;
  ASSERT_TRUE(StartAs(0, &owners_, {kFriend}, &owner).ok());
  std::unique_ptr<Server> replica;
  Status started = StartAs(kFriend, &others_, {}, &replica);
  ASSERT_TRUE(started.ok()) << started.ToString();
  EXPECT_EQ(ShownOwner(), 0);
  // The owner's list travels with the name: with the owner's server gone, the friend's entry
  // still refuses a stranger.
  owner->Shutdown();
  std::unique_ptr<Server> intruder;
  Status refused = StartAs(kStranger, &owners_, {}, &intruder);
  EXPECT_EQ(refused.error_code(), StatusCode::PERMISSION_DENIED) << refused.ToString();
  replica->Shutdown();
}

TEST_F(NameOwnerTest, AServerListsAtMostFourRegistrants) {
  std::unique_ptr<Server> owner;
  Status refused = StartAs(0, &owners_, {1, 2, 3, 4, 5}, &owner);
  EXPECT_EQ(refused.error_code(), StatusCode::INVALID_ARGUMENT) << refused.ToString();
}

}  // namespace
}  // namespace notnets
