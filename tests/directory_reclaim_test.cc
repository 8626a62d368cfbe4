// Directory entries of crashed servers are reclaimed (ctest label `faults`): a server killed with
// kill -9 never unregisters, yet its entry does not keep the directory full, and a restarted
// server takes its name back.
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <string>

#include "notnets/pool.h"
#include "pool/allocator.h"
#include "pool/directory.h"
#include "pool/pool_access.h"
#include "process_harness.h"

namespace notnets::process_test {
namespace {

// A pool whose directory holds one service, so that a crashed server's entry fills it.
class DirectoryReclaimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PoolOptions options;
    options.max_services = 1;
    ASSERT_TRUE(Pool::Create(pool_name_, options, &pool_).ok());
  }
  void TearDown() override {
    pool_.reset();
    Pool::Remove(pool_name_);
  }

  std::string pool_name_ = UniquePoolName();
  std::shared_ptr<Pool> pool_;
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

}  // namespace
}  // namespace notnets::process_test
