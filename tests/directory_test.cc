// The service directory: register, look up, unregister, a full directory, name limits, taking
// over the entry of a dead server, and who owns a name.
#include "pool/directory.h"

#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pool/allocator.h"
#include "pool/pool_access.h"
#include "pool/pool_mapping.h"
#include "test_pool.h"

namespace notnets::internal {
namespace {

using notnets::testing::TestPool;

constexpr uint32_t kServices = 4;

PoolOptions SmallPool() {
  PoolOptions options;
  options.size_bytes = 4 << 20;
  options.max_services = kServices;
  options.call_window_slots = 0;
  return options;
}

class DirectoryTest : public ::testing::Test {
 protected:
  DirectoryTest()
      : test_pool_(SmallPool(), "dir"),
        mapping_(&PoolAccess::mapping(*test_pool_.pool())),
        allocator_(mapping_),
        directory_(mapping_, &allocator_) {}

  Status Register(const std::string& name, const std::vector<std::string>& methods,
                  ServiceRef* ref) {
    return directory_.Register(name, methods, Directory::kOwnDoorbell, ref);
  }

  uint64_t HeapUsed() const { return allocator_.Usage().used_bytes; }

  TestPool test_pool_;
  PoolMapping* mapping_;
  Allocator allocator_;
  Directory directory_;
};

TEST_F(DirectoryTest, LookupFindsARegisteredServiceWithItsMethodsInOrder) {
  ServiceRef ref;
  ASSERT_TRUE(Register("test.Alpha", {"Get", "Put", "Delete"}, &ref).ok());
  ServiceRef other;
  ASSERT_TRUE(Register("test.Beta", {"Ping"}, &other).ok());
  EXPECT_NE(ref.index, other.index);

  ServiceView view;
  ASSERT_TRUE(directory_.Lookup("test.Alpha", &view).ok());
  EXPECT_EQ(view.ref.index, ref.index);
  EXPECT_EQ(view.ref.generation, ref.generation);
  EXPECT_EQ(view.methods, (std::vector<std::string>{"Get", "Put", "Delete"}));
  EXPECT_TRUE(directory_.IsActive(ref));
  EXPECT_EQ(directory_.NameOf(ref.index), "test.Alpha");

  ASSERT_TRUE(directory_.Lookup("test.Beta", &view).ok());
  EXPECT_EQ(view.ref.index, other.index);
  EXPECT_EQ(view.methods, std::vector<std::string>{"Ping"});
}

TEST_F(DirectoryTest, LookupOfAnUnknownNameIsUnavailableAndNamesIt) {
  ServiceRef ref;
  ASSERT_TRUE(Register("test.Alpha", {"Get"}, &ref).ok());
  ServiceView view;
  Status status = directory_.Lookup("test.Alph", &view);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_NE(status.error_message().find("'test.Alph'"), std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find(mapping_->path()), std::string::npos)
      << status.error_message();
}

TEST_F(DirectoryTest, UnregisterFreesTheEntryAndItsMethodTable) {
  uint64_t before = HeapUsed();
  ServiceRef ref;
  ASSERT_TRUE(Register("test.Alpha", {"Get", "Put"}, &ref).ok());
  EXPECT_GT(HeapUsed(), before) << "the method table is a pool block";
  directory_.Unregister(ref);
  EXPECT_EQ(HeapUsed(), before);
  EXPECT_FALSE(directory_.IsActive(ref));
  EXPECT_EQ(directory_.NameOf(ref.index), "");
  ServiceView view;
  EXPECT_EQ(directory_.Lookup("test.Alpha", &view).error_code(), StatusCode::UNAVAILABLE);
  // Unregistering twice, or a stale ref, changes nothing.
  directory_.Unregister(ref);
  EXPECT_EQ(HeapUsed(), before);
}

TEST_F(DirectoryTest, AClosingServiceIsNoLongerFound) {
  ServiceRef ref;
  ASSERT_TRUE(Register("test.Alpha", {"Get"}, &ref).ok());
  directory_.BeginClose(ref);
  EXPECT_FALSE(directory_.IsActive(ref));
  ServiceView view;
  EXPECT_EQ(directory_.Lookup("test.Alpha", &view).error_code(), StatusCode::UNAVAILABLE);
  directory_.Unregister(ref);
}

TEST_F(DirectoryTest, ALiveServerKeepsItsName) {
  ServiceRef ref;
  ASSERT_TRUE(Register("test.Alpha", {"Get"}, &ref).ok());
  ServiceRef second;
  Status status = Register("test.Alpha", {"Get"}, &second);
  EXPECT_EQ(status.error_code(), StatusCode::ALREADY_EXISTS) << status.ToString();
  EXPECT_TRUE(directory_.IsActive(ref));
}

TEST_F(DirectoryTest, ReplicasShareANameThatASoleServerCannotJoin) {
  ServiceRef first, second, sole;
  ASSERT_TRUE(
      directory_
          .Register("test.Alpha", {"Get"}, Directory::kOwnDoorbell, &first, ReplicaMode::kReplica)
          .ok());
  ASSERT_TRUE(
      directory_
          .Register("test.Alpha", {"Get"}, Directory::kOwnDoorbell, &second, ReplicaMode::kReplica)
          .ok());
  EXPECT_NE(first.index, second.index);
  Status status = Register("test.Alpha", {"Get"}, &sole);
  EXPECT_EQ(status.error_code(), StatusCode::ALREADY_EXISTS) << status.ToString();

  std::vector<ServiceView> views;
  ASSERT_TRUE(directory_.LookupAll("test.Alpha", &views).ok());
  ASSERT_EQ(views.size(), 2u);
  EXPECT_EQ(views[0].ref.index, first.index);
  EXPECT_EQ(views[1].ref.index, second.index);
  EXPECT_EQ(views[1].methods, std::vector<std::string>{"Get"});

  // A draining replica is no longer found.
  directory_.BeginClose(first);
  ASSERT_TRUE(directory_.LookupAll("test.Alpha", &views).ok());
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].ref.index, second.index);
  directory_.Unregister(first);
  directory_.Unregister(second);
}

TEST_F(DirectoryTest, AReplicaCannotJoinASoleServer) {
  ServiceRef sole, replica;
  ASSERT_TRUE(Register("test.Alpha", {"Get"}, &sole).ok());
  Status status = directory_.Register("test.Alpha", {"Get"}, Directory::kOwnDoorbell, &replica,
                                      ReplicaMode::kReplica);
  EXPECT_EQ(status.error_code(), StatusCode::ALREADY_EXISTS) << status.ToString();
  directory_.Unregister(sole);
}

TEST_F(DirectoryTest, AFullDirectoryRefusesAndAFreedEntryIsReusedWithANewGeneration) {
  std::vector<ServiceRef> refs(kServices);
  for (uint32_t i = 0; i < kServices; ++i) {
    ASSERT_TRUE(Register("test.S" + std::to_string(i), {"M"}, &refs[i]).ok()) << i;
  }
  ServiceRef extra;
  Status status = Register("test.Extra", {"M"}, &extra);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.ToString();
  EXPECT_NE(status.error_message().find("is full (" + std::to_string(kServices) + " services)"),
            std::string::npos)
      << status.error_message();

  directory_.Unregister(refs[2]);
  ASSERT_TRUE(Register("test.Extra", {"M"}, &extra).ok());
  EXPECT_EQ(extra.index, refs[2].index);
  EXPECT_GT(extra.generation, refs[2].generation);
  // A ref to the entry's previous generation no longer designates it.
  EXPECT_FALSE(directory_.IsActive(refs[2]));
  EXPECT_TRUE(directory_.IsActive(extra));
}

TEST_F(DirectoryTest, ServiceNamesAreOneToTheLimitInBytes) {
  ServiceRef ref;
  EXPECT_EQ(Register("", {"M"}, &ref).error_code(), StatusCode::INVALID_ARGUMENT);
  std::string too_long(kMaxServiceNameBytes + 1, 'n');
  EXPECT_EQ(Register(too_long, {"M"}, &ref).error_code(), StatusCode::INVALID_ARGUMENT);

  std::string longest(kMaxServiceNameBytes, 'n');
  longest.back() = 'z';
  ASSERT_TRUE(Register(longest, {"M"}, &ref).ok());
  ServiceView view;
  ASSERT_TRUE(directory_.Lookup(longest, &view).ok());
  EXPECT_EQ(view.ref.index, ref.index);
  EXPECT_EQ(directory_.NameOf(ref.index), longest);
  // The name is compared whole, not by prefix.
  EXPECT_FALSE(directory_.Lookup(longest.substr(0, kMaxServiceNameBytes - 1), &view).ok());
}

TEST_F(DirectoryTest, MethodNamesAreCheckedAndMethodsCounted) {
  ServiceRef ref;
  EXPECT_EQ(Register("test.A", {""}, &ref).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register("test.A", {std::string(kMaxMethodNameBytes + 1, 'm')}, &ref).error_code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register("test.A", {"Get", "Get"}, &ref).error_code(), StatusCode::INVALID_ARGUMENT);
  std::vector<std::string> too_many;
  for (uint32_t i = 0; i <= kMaxMethodsPerService; ++i) too_many.push_back("M" + std::to_string(i));
  EXPECT_EQ(Register("test.A", too_many, &ref).error_code(), StatusCode::INVALID_ARGUMENT);

  too_many.pop_back();
  too_many.back() = std::string(kMaxMethodNameBytes, 'm');
  ASSERT_TRUE(Register("test.A", too_many, &ref).ok());
  ServiceView view;
  ASSERT_TRUE(directory_.Lookup("test.A", &view).ok());
  EXPECT_EQ(view.methods, too_many);
}

// A server that died without unregistering: its entry is refused to clients, and the next server
// of the name takes it over (a new generation) and frees the dead server's method table.
TEST_F(DirectoryTest, TheEntryOfADeadServerIsRefusedThenTakenOver) {
  uint64_t before = HeapUsed();
  ServiceRef dead;
  ASSERT_TRUE(Register("test.Alpha", {"Get"}, &dead).ok());
  uint64_t one_table = HeapUsed() - before;
  // A token no live process holds: the server is dead.
  directory_.entry(dead.index)->server_token.fetch_add(1);

  ServiceView view;
  Status status = directory_.Lookup("test.Alpha", &view);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_NE(status.error_message().find("has died"), std::string::npos) << status.ToString();

  ServiceRef next;
  ASSERT_TRUE(Register("test.Alpha", {"Get", "Put"}, &next).ok());
  EXPECT_EQ(next.index, dead.index);
  EXPECT_GT(next.generation, dead.generation);
  EXPECT_EQ(HeapUsed(), before + one_table) << "the dead server's method table was not freed";
  ASSERT_TRUE(directory_.Lookup("test.Alpha", &view).ok());
  EXPECT_EQ(view.methods, (std::vector<std::string>{"Get", "Put"}));
}

// A name belongs to the owner of its name file, not to the uid its entries record: an entry
// rewritten to name another owner refuses nobody, and the next entry of the name shows the file's
// owner and list again.
TEST_F(DirectoryTest, TheOwnerWordsOfAnEntryDecideNothing) {
  auto self = static_cast<uint32_t>(::geteuid());
  uint32_t other = self + 1;
  RegistrationAccess access;
  access.registrants = {self + 7};
  ServiceRef theirs;
  ASSERT_TRUE(directory_
                  .Register("test.Owned", {"Get"}, Directory::kOwnDoorbell, &theirs,
                            ReplicaMode::kReplica, access)
                  .ok());
  EXPECT_EQ(ReadNameOwner(directory_.entry(theirs.index)->access).uid, self);
  WriteNameOwner(NameOwner{other, {}}, &directory_.entry(theirs.index)->access);

  ServiceRef mine;
  Status replica = directory_.Register("test.Owned", {"Get"}, Directory::kOwnDoorbell, &mine,
                                       ReplicaMode::kReplica);
  ASSERT_TRUE(replica.ok()) << replica.ToString();
  NameOwner owner = ReadNameOwner(directory_.entry(mine.index)->access);
  EXPECT_EQ(owner.uid, self);
  EXPECT_EQ(owner.registrants, (std::vector<uint32_t>{self + 7}));
  directory_.Unregister(mine);
  // A token no live process holds: the dead server's entry, whatever owner it names, is taken
  // over by the name's owner.
  directory_.entry(theirs.index)->server_token.fetch_add(1);
  ASSERT_TRUE(Register("test.Owned", {"Get"}, &mine).ok());
  EXPECT_EQ(mine.index, theirs.index);
  EXPECT_EQ(ReadNameOwner(directory_.entry(mine.index)->access).uid, self);
}

// The owner's own servers register under its name, whatever list they bring (the first
// registration's, in the name file, stays): replicas beside a live one, and a successor of a
// dead one.
TEST_F(DirectoryTest, TheOwnersServersRegisterReplicasAndSucceedADeadOne) {
  auto self = static_cast<uint32_t>(::geteuid());
  RegistrationAccess access;
  access.registrants = {self + 5};
  ServiceRef first;
  ServiceRef second;
  ASSERT_TRUE(directory_
                  .Register("test.Owned", {"Get"}, Directory::kOwnDoorbell, &first,
                            ReplicaMode::kReplica, access)
                  .ok());
  ASSERT_TRUE(
      directory_
          .Register("test.Owned", {"Get"}, Directory::kOwnDoorbell, &second, ReplicaMode::kReplica)
          .ok());
  EXPECT_EQ(ReadNameOwner(directory_.entry(second.index)->access).uid, self);
  EXPECT_EQ(ReadNameOwner(directory_.entry(second.index)->access).registrants,
            (std::vector<uint32_t>{self + 5}));
  directory_.Unregister(second);
  directory_.entry(first.index)->server_token.fetch_add(1);
  ServiceRef successor;
  ASSERT_TRUE(Register("test.Owned", {"Get"}, &successor).ok());
  EXPECT_EQ(successor.index, first.index);
}

// What a reader takes from an entry is validated: a name length beyond the limit hides it.
TEST_F(DirectoryTest, AnEntryWithAnImpossibleNameLengthIsNotFound) {
  ServiceRef ref;
  ASSERT_TRUE(Register("test.Alpha", {"Get"}, &ref).ok());
  directory_.entry(ref.index)->name_length.store(kMaxServiceNameBytes + 1);
  ServiceView view;
  EXPECT_FALSE(directory_.Lookup("test.Alpha", &view).ok());
  EXPECT_EQ(directory_.NameOf(ref.index), "");
}

}  // namespace
}  // namespace notnets::internal
