// A service name belongs to the uid that first registered it, as the owner of the name's file
// (pool/name_file.h): only that uid, and the uids it lists (ServerBuilder::AllowRegistrantUid),
// may register servers under it, whether its servers are live, closing, dead or all shut down;
// others get PERMISSION_DENIED naming the owner, and the owner's clients keep calling its servers
// and never a server of another uid, whatever the directory says. The tests act as other users on
// one thread (as connection_segments_test.cc does), so they run only as root (as CI does).
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "notnets/channel.h"
#include "notnets/client_context.h"
#include "notnets/pool.h"
#include "notnets/server.h"
#include "pool/directory.h"
#include "pool/name_file.h"
#include "pool/pool_access.h"
#include "pool/service_access.h"
#include "test_pool.h"
#include "thread_acts_as.h"

namespace notnets {
namespace {

constexpr uint32_t kFriend = 54351;
constexpr uint32_t kStranger = 54352;
constexpr char kName[] = "test.Owned";
constexpr char kDecoy[] = "test.Decoy";

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

  // The directory of the test's pool.
  internal::Directory* directory() {
    mapping_ = &internal::PoolAccess::mapping(*pool_.pool());
    allocator_ = std::make_unique<internal::Allocator>(mapping_);
    directory_ = std::make_unique<internal::Directory>(mapping_, allocator_.get());
    return directory_.get();
  }

  // Rewrites the name of entry `index` as a process that can write the pool could.
  void ForgeName(uint32_t index, const std::string& name) {
    internal::ServiceEntry* entry = directory()->entry(index);
    char bytes[internal::kMaxServiceNameBytes] = {};
    std::memcpy(bytes, name.data(), name.size());
    for (size_t i = 0; i < internal::kMaxServiceNameBytes / 8; ++i) {
      uint64_t word;
      std::memcpy(&word, bytes + i * 8, 8);
      entry->name_words[i].store(word);
    }
    entry->name_length.store(name.size());
  }

  // A call of "Who" on a new channel to kName: its status, and the answer in `*response`.
  Status CallWho(std::string* response) {
    std::shared_ptr<Channel> channel;
    Status connected = Channel::Connect(pool_.pool(), kName, ChannelOptions(), &channel);
    if (!connected.ok()) return connected;
    ClientContext context;
    return channel->Call("Who", "", response, &context);
  }

  testing::TestPool pool_;
  Service owners_{kName};
  Service others_{kName};
  internal::PoolMapping* mapping_ = nullptr;
  std::unique_ptr<internal::Allocator> allocator_;
  std::unique_ptr<internal::Directory> directory_;
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

TEST_F(NameOwnerTest, RewritingTheDirectorysOwnerWordsGivesAnotherUserNoName) {
  std::unique_ptr<Server> owner;
  ASSERT_TRUE(StartAs(0, &owners_, {}, &owner).ok());
  internal::ServiceView view;
  ASSERT_TRUE(directory()->Lookup(kName, &view).ok());
  // What a stranger that can write the pool does: its own uid as the owner and server of the
  // owner's entry.
  {
    ThreadActsAs stranger(kStranger);
    ASSERT_TRUE(stranger.ok);
    internal::ServiceEntry* entry = directory()->entry(view.ref.index);
    internal::WriteNameOwner(internal::NameOwner{kStranger, {kStranger}}, &entry->access);
    entry->server_uid.store(kStranger);
  }
  std::unique_ptr<Server> intruder;
  Status refused = StartAs(kStranger, &others_, {}, &intruder);
  EXPECT_EQ(refused.error_code(), StatusCode::PERMISSION_DENIED) << refused.ToString();
  EXPECT_NE(refused.error_message().find("'test.Owned' belongs to uid 0"), std::string::npos)
      << refused.error_message();
  EXPECT_EQ(intruder, nullptr);
  if (intruder != nullptr) intruder->Shutdown();
  // Operators see the owner the name file records (notnets pool inspect), not the forged copy.
  EXPECT_EQ(ShownOwner(), 0);
  owner->Shutdown();
}

TEST_F(NameOwnerTest, ANameWhoseServersAllShutDownStaysItsOwners) {
  std::unique_ptr<Server> owner;
  ASSERT_TRUE(StartAs(0, &owners_, {kFriend}, &owner).ok());
  owner->Shutdown();
  owner.reset();
  ASSERT_EQ(ShownOwner(), -1);  // no entry of the name is left

  std::unique_ptr<Server> intruder;
  Status refused = StartAs(kStranger, &others_, {}, &intruder);
  EXPECT_EQ(refused.error_code(), StatusCode::PERMISSION_DENIED) << refused.ToString();
  EXPECT_NE(refused.error_message().find("'test.Owned' belongs to uid 0"), std::string::npos)
      << refused.error_message();
  if (intruder != nullptr) intruder->Shutdown();
  // The users it listed, and the owner, still may.
  std::unique_ptr<Server> listed;
  Status started = StartAs(kFriend, &others_, {}, &listed);
  ASSERT_TRUE(started.ok()) << started.ToString();
  EXPECT_EQ(ShownOwner(), 0);
  listed->Shutdown();
}

TEST_F(NameOwnerTest, AForgedEntryNeverGetsTheNamesCalls) {
  std::unique_ptr<Server> owner;
  ASSERT_TRUE(StartAs(0, &owners_, {}, &owner).ok());
  owner->Shutdown();
  owner.reset();
  // A stranger serves a name of its own, then renames its entry to the owner's: the entry, with
  // the stranger's uid as its server's, is the only one of the name.
  std::atomic<int> forged_calls{0};
  Service decoy(kDecoy);
  decoy.AddMethod(
      "Who", [&forged_calls](ServerContext*, const ReceivedMessage&, ServerResponse* response) {
        forged_calls.fetch_add(1);
        response->Copy("forged");
        return Status::OK;
      });
  std::unique_ptr<Server> attacker;
  {
    ThreadActsAs stranger(kStranger);
    ASSERT_TRUE(stranger.ok);
    ServerBuilder builder(pool_.pool());
    builder.RegisterService(&decoy).AllowAnyCaller();
    ASSERT_TRUE(builder.BuildAndStart(&attacker).ok());
  }
  internal::ServiceView view;
  ASSERT_TRUE(directory()->Lookup(kDecoy, &view).ok());
  ForgeName(view.ref.index, kName);

  std::string response;
  Status refused = CallWho(&response);
  EXPECT_EQ(refused.error_code(), StatusCode::UNAVAILABLE) << refused.ToString();
  EXPECT_NE(refused.error_message().find("refused the server of service 'test.Owned'"),
            std::string::npos)
      << refused.error_message();
  EXPECT_NE(refused.error_message().find("it runs as uid " + std::to_string(kStranger) +
                                         ", but the name belongs to uid 0"),
            std::string::npos)
      << refused.error_message();
  EXPECT_NE(response, "forged");
  EXPECT_EQ(forged_calls.load(), 0);

  // With the forgery gone and the owner back, a new channel reaches the owner.
  ForgeName(view.ref.index, kDecoy);
  ASSERT_TRUE(StartAs(0, &others_, {}, &owner).ok());
  Status called = CallWho(&response);
  EXPECT_TRUE(called.ok()) << called.ToString();
  EXPECT_EQ(response, "served");
  EXPECT_EQ(forged_calls.load(), 0);
  owner->Shutdown();
  attacker->Shutdown();
}

TEST_F(NameOwnerTest, AMalformedNameFileIsItsOwnersAlone) {
  // A stranger's file for the name, listing root but writable by everyone: its list counts for
  // nothing (anyone could have written it), so the name is the stranger's alone.
  internal::NameFileLayout layout{};
  layout.magic = internal::kNameFileMagic;
  layout.layout_version = internal::kNameFileLayoutVersion;
  layout.registrant_count = 1;
  layout.registrants[0] = 0;
  layout.name_length = sizeof(kName) - 1;
  std::memcpy(layout.name, kName, layout.name_length);
  {
    ThreadActsAs stranger(kStranger);
    ASSERT_TRUE(stranger.ok);
    std::string path = internal::NameFilePath(pool_.pool()->path(), kName);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(::write(fd, &layout, sizeof(layout)), static_cast<ssize_t>(sizeof(layout)));
    ASSERT_EQ(::fchmod(fd, 0666), 0);
    ::close(fd);
  }
  std::unique_ptr<Server> refused_server;
  Status refused = StartAs(0, &owners_, {}, &refused_server);
  EXPECT_EQ(refused.error_code(), StatusCode::PERMISSION_DENIED) << refused.ToString();
  EXPECT_NE(refused.error_message().find("belongs to uid " + std::to_string(kStranger)),
            std::string::npos)
      << refused.error_message();
  if (refused_server != nullptr) refused_server->Shutdown();
  std::unique_ptr<Server> owner;
  Status started = StartAs(kStranger, &others_, {}, &owner);
  EXPECT_TRUE(started.ok()) << started.ToString();
  if (owner != nullptr) owner->Shutdown();
}

TEST_F(NameOwnerTest, AServerListsAtMostFourRegistrants) {
  std::unique_ptr<Server> owner;
  Status refused = StartAs(0, &owners_, {1, 2, 3, 4, 5}, &owner);
  EXPECT_EQ(refused.error_code(), StatusCode::INVALID_ARGUMENT) << refused.ToString();
}

}  // namespace
}  // namespace notnets
