// Directory entries of crashed servers are reclaimed (ctest label `faults`): a server killed with
// kill -9 never unregisters, yet its entry does not keep the directory full, and a restarted
// server takes its name back. A server killed while it holds an entry it claimed (registering,
// or taking over a dead server's entry) leaves the entry and what it names to the next holder.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <memory>
#include <optional>
#include <string>

#include "notnets/pool.h"
#include "notnets/server.h"
#include "pool/allocator.h"
#include "pool/directory.h"
#include "pool/pool_access.h"
#include "process_harness.h"

namespace notnets::process_test {
namespace {

// A pool whose directory holds `max_services` services, so that a few entries fill it.
class SmallDirectoryTest : public ::testing::Test {
 protected:
  void CreatePool(uint32_t max_services) {
    PoolOptions options;
    options.max_services = max_services;
    ASSERT_TRUE(Pool::Create(pool_name_, options, &pool_).ok());
  }
  void TearDown() override {
    pool_.reset();
    Pool::Remove(pool_name_);
  }

  std::string pool_name_ = UniquePoolName();
  std::shared_ptr<Pool> pool_;
};

// One entry: a crashed server's fills the directory.
class DirectoryReclaimTest : public SmallDirectoryTest {
 protected:
  void SetUp() override { CreatePool(1); }
};

// Two entries, and servers killed at a crash point.
class AbandonedClaimTest : public SmallDirectoryTest {
 protected:
  void SetUp() override {
    NOTNETS_SKIP_WITHOUT_CRASH_POINTS();
    CreatePool(2);
  }

  // Runs a server that dies (kill -9, at its crash point) just after it claimed an entry.
  void KillAServerAfterItClaimsAnEntry() {
    PeerProcess server({"serve", pool_name_, "1"}, {"NOTNETS_CRASH_AT=server.after_claim_entry"});
    std::optional<int> status = server.Wait(kHangBound);
    ASSERT_TRUE(status.has_value() && WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
        << "the server did not die at its crash point; output: " << server.output();
  }
};

TEST_F(DirectoryReclaimTest, ACrashedServersEntryIsTakenWhenTheDirectoryIsFull) {
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 1);
  server->Signal(SIGKILL);
  ASSERT_TRUE(server->Wait(kHangBound).has_value());

  internal::Allocator allocator(&internal::PoolAccess::mapping(*pool_));
  internal::Directory directory(&internal::PoolAccess::mapping(*pool_), &allocator);
  internal::ServiceRef other;
  Status status =
      directory.Register("other.Service", {"Method"}, internal::Directory::kOwnDoorbell, &other);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(directory.NameOf(other.index), "other.Service");
  directory.Unregister(other);

  // A server of the crashed one's name gets the entry back and answers.
  server = StartServer(pool_name_, 1);
  std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
  ASSERT_NE(channel, nullptr);
  ClientContext context;
  std::string response;
  status = channel->Call("Echo", "back", &response, &context);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(response, "back");
  channel.reset();
  StopServer(server.get());
}

TEST_F(DirectoryReclaimTest, ALiveServersEntryIsNeverTaken) {
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 1);
  internal::Allocator allocator(&internal::PoolAccess::mapping(*pool_));
  internal::Directory directory(&internal::PoolAccess::mapping(*pool_), &allocator);
  internal::ServiceRef other;
  EXPECT_EQ(
      directory.Register("other.Service", {"Method"}, internal::Directory::kOwnDoorbell, &other)
          .error_code(),
      StatusCode::RESOURCE_EXHAUSTED);
  StopServer(server.get());
}

TEST_F(AbandonedClaimTest, AnEntryClaimedByAServerKilledWhileRegisteringIsTakenByTheNext) {
  const uint64_t empty = pool_->Stats().heap_used_bytes;
  internal::Allocator allocator(&internal::PoolAccess::mapping(*pool_));
  internal::Directory directory(&internal::PoolAccess::mapping(*pool_), &allocator);
  internal::ServiceRef first;
  ASSERT_TRUE(
      directory.Register("first.Service", {"Method"}, internal::Directory::kOwnDoorbell, &first)
          .ok());
  KillAServerAfterItClaimsAnEntry();

  // The directory's other entry is the dead claimer's: a registration takes it over.
  internal::ServiceRef other;
  Status status =
      directory.Register("other.Service", {"Method"}, internal::Directory::kOwnDoorbell, &other);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(directory.NameOf(other.index), "other.Service");
  directory.Unregister(other);
  directory.Unregister(first);
  EXPECT_EQ(pool_->Stats().heap_used_bytes, empty);
}

// The dead server's method table and counters, named by its entry, stay named while a second
// server takes the entry over and is killed holding it. A live server of another name reclaims
// the entry and frees them.
TEST_F(AbandonedClaimTest, ALiveServerFreesWhatAnAbandonedClaimNames) {
  Service bystander("bystander.Service");
  bystander.AddMethod("Echo",
                      [](ServerContext*, const ReceivedMessage& request, ServerResponse* response) {
                        response->Copy(request.view());
                        return Status::OK;
                      });
  std::unique_ptr<Server> sweeper;
  ASSERT_TRUE(ServerBuilder(pool_).RegisterService(&bystander).BuildAndStart(&sweeper).ok());
  const uint64_t serving = pool_->Stats().heap_used_bytes;

  std::unique_ptr<PeerProcess> dead = StartServer(pool_name_, 1);
  dead->Signal(SIGKILL);
  ASSERT_TRUE(dead->Wait(kHangBound).has_value());
  KillAServerAfterItClaimsAnEntry();

  auto give_up = Clock::now() + seconds(20);  // the sweeper sweeps every second
  while (pool_->Stats().heap_used_bytes != serving && Clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(pool_->Stats().heap_used_bytes, serving)
      << "what the dead server's entry named never came back";

  // The entry is free again: a server of the dead one's name registers and answers.
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 1);
  std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
  ASSERT_NE(channel, nullptr);
  ClientContext context;
  std::string response;
  Status status = channel->Call("Echo", "back", &response, &context);
  EXPECT_TRUE(status.ok()) << status.ToString();
  channel.reset();
  StopServer(server.get());
  sweeper->Shutdown();
}

}  // namespace
}  // namespace notnets::process_test
