// Pool files and names another user or a full file system could turn against a service (ctest
// label `faults`): names that are not what they seem, removing what is not a pool, and a pool the
// file system cannot hold.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "gtest/gtest.h"
#include "notnets/pool.h"
#include "pool/segment.h"
#include "test_pool.h"

namespace notnets {
namespace {

using testing::UniquePoolName;

TEST(PoolFilesTest, NamesThatAreNotWhatTheySeemAreRefused) {
  const std::string refused[] = {
      "../etc/passwd",       "sub/dir", "/dev/shm/../shm/notnets-x", std::string("a\0b", 3),
      std::string(201, 'a'), ".."};
  for (const std::string& name : refused) {
    std::shared_ptr<Pool> pool;
    EXPECT_EQ(Pool::Create(name, PoolOptions(), &pool).error_code(), StatusCode::INVALID_ARGUMENT)
        << name;
    EXPECT_EQ(Pool::Attach(name, &pool).error_code(), StatusCode::INVALID_ARGUMENT) << name;
    EXPECT_EQ(Pool::Remove(name).error_code(), StatusCode::INVALID_ARGUMENT) << name;
  }
  std::string longest(200, 'a');
  std::shared_ptr<Pool> pool;
  PoolOptions small;
  small.size_bytes = 1 << 20;
  ASSERT_TRUE(Pool::Create(longest, small, &pool).ok());
  EXPECT_TRUE(Pool::Remove(longest).ok());
}

// The pool file gets the mode asked for, whatever the umask (022 would take a group's write
// away); a mode that is not permission bits, or that denies the owner, is refused.
TEST(PoolFilesTest, APoolFileHasExactlyTheModeAskedFor) {
  mode_t umask_before = ::umask(022);
  PoolOptions options;
  options.file_mode = 0660;
  std::string name = UniquePoolName("mode");
  std::shared_ptr<Pool> pool;
  Status status = Pool::Create(name, options, &pool);
  ::umask(umask_before);
  ASSERT_TRUE(status.ok()) << status.ToString();
  struct stat file {};
  ASSERT_EQ(::stat(pool->path().c_str(), &file), 0);
  EXPECT_EQ(file.st_mode & 07777, 0660u);
  pool.reset();
  Pool::Remove(name);
  for (uint32_t mode : {04600u, 0400u, 01000u}) {
    options.file_mode = mode;
    name = UniquePoolName("mode");
    EXPECT_EQ(Pool::Create(name, options, &pool).error_code(), StatusCode::INVALID_ARGUMENT)
        << std::oct << mode;
    EXPECT_EQ(Pool::Attach(name, &pool).error_code(), StatusCode::NOT_FOUND) << std::oct << mode;
  }
}

TEST(PoolFilesTest, RemoveRemovesOnlyPools) {
  std::string name = UniquePoolName("notpool");
  std::string path = Pool::PathFor(name);
  std::ofstream(path) << "not a pool, but somebody's file";
  EXPECT_EQ(Pool::Remove(name).error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(::access(path.c_str(), F_OK), 0) << "a file that is not a pool was removed";
  ::unlink(path.c_str());
}

// A pool on a device is removed by erasing its magic number; a device without one (here
// /dev/null and /dev/zero, elsewhere a DAX device holding someone's data) is not written.
TEST(PoolFilesTest, RemoveRefusesADeviceThatHoldsNoPool) {
  for (const char* device : {"/dev/null", "/dev/zero"}) {
    struct stat before {};
    if (::stat(device, &before) != 0 || !S_ISCHR(before.st_mode)) {
      GTEST_SKIP() << device << " is not a character device here";
    }
    Status status = Pool::Remove(device);
    EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION) << device;
    EXPECT_NE(status.error_message().find("not a notnets pool"), std::string::npos)
        << status.ToString();
    struct stat after {};
    ASSERT_EQ(::stat(device, &after), 0) << device;
    EXPECT_TRUE(S_ISCHR(after.st_mode)) << device;
    EXPECT_EQ(after.st_rdev, before.st_rdev) << device;
  }
}

// Creation used to build the pool under "<path>.creating.<pid>": a file planted there blocked it.
TEST(PoolFilesTest, APlantedBuildNameCannotBlockCreation) {
  std::string name = UniquePoolName("planted");
  std::string planted = Pool::PathFor(name) + ".creating." + std::to_string(::getpid());
  std::ofstream(planted) << "planted";
  std::shared_ptr<Pool> pool;
  Status status = Pool::Create(name, PoolOptions(), &pool);
  EXPECT_TRUE(status.ok()) << status.ToString();
  Pool::Remove(name);
  ::unlink(planted.c_str());
}

// Another user's pool (perhaps planted under the name a service meant to create) is refused
// unless its owner is trusted. Skipped unless root (to give the file away).
TEST(PoolFilesTest, AnotherUsersPoolIsAttachedOnlyWhenTrusted) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a pool file to another user";
  constexpr uint32_t kOther = 54321;
  testing::TestPool test_pool;
  // A planted pool is open to everyone, to lure services into it.
  ASSERT_EQ(::chown(test_pool.pool()->path().c_str(), kOther, kOther), 0);
  ASSERT_EQ(::chmod(test_pool.pool()->path().c_str(), 0666), 0);
  // Root's own pools are trusted: act as another user for the check (back to root at the end of
  // the scope, whatever fails).
  struct ActAs {
    explicit ActAs(uid_t user) { ok = ::setegid(user) == 0 && ::seteuid(user) == 0; }
    ~ActAs() { ok = ::seteuid(0) == 0 && ::setegid(0) == 0; }
    bool ok;
  };
  Status refused;
  Status created;
  Status trusted;
  {
    ActAs user(1000);
    ASSERT_TRUE(user.ok);
    std::shared_ptr<Pool> pool;
    refused = Pool::Attach(test_pool.name(), &pool);
    created = Pool::AttachOrCreate(test_pool.name(), PoolOptions(), &pool);
    PoolOptions trusting;
    trusting.trusted_owners = {kOther};
    trusted = Pool::Attach(test_pool.name(), trusting, &pool);
  }
  ASSERT_EQ(::geteuid(), 0u);
  EXPECT_EQ(refused.error_code(), StatusCode::PERMISSION_DENIED) << refused.ToString();
  EXPECT_NE(refused.error_message().find("belongs to uid 54321"), std::string::npos)
      << refused.ToString();
  EXPECT_EQ(created.error_code(), StatusCode::PERMISSION_DENIED) << created.ToString();
  EXPECT_TRUE(trusted.ok()) << trusted.ToString();
}

// Runs `body` in a child process with a mount namespace of its own, on the directory of a 4 MiB
// tmpfs mounted there, and returns what `body` reported, "setup" if the tmpfs could not be
// mounted (not root, or no mount namespaces), or "died: ..." if the child did not exit.
std::string OnSmallTmpfs(const std::function<std::string(const std::string& dir)>& body) {
  int result[2];
  if (::pipe(result) != 0) return "setup";
  pid_t child = ::fork();
  if (child == 0) {
    std::string dir = "/tmp/notnets-small-" + std::to_string(::getpid());
    std::string report = "setup";
    if (::unshare(CLONE_NEWNS) == 0 &&
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
        ::mkdir(dir.c_str(), 0700) == 0 &&
        ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=4m") == 0) {
      report = body(dir);
      ::umount(dir.c_str());
    }
    ::rmdir(dir.c_str());
    ssize_t ignored = ::write(result[1], report.data(), report.size());
    (void)ignored;
    ::_exit(0);
  }
  ::close(result[1]);
  std::string report;
  char buffer[1024];
  for (ssize_t n; (n = ::read(result[0], buffer, sizeof(buffer))) > 0;) report.append(buffer, n);
  ::close(result[0]);
  int wait_status = 0;
  ::waitpid(child, &wait_status, 0);
  if (!WIFEXITED(wait_status)) return "died: " + report;
  return report;
}

// A pool larger than a 4 MiB tmpfs. Skipped unless root.
TEST(PoolFilesTest, APoolTheFileSystemCannotHoldFailsAtCreationAndLeavesNothing) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  std::string report = OnSmallTmpfs([](const std::string& dir) {
    PoolOptions options;
    options.size_bytes = 32 << 20;
    std::shared_ptr<Pool> pool;
    Status status = Pool::Create(dir + "/pool", options, &pool);
    bool left = !std::filesystem::is_empty(dir);
    return status.ToString() + (left ? " LEFT" : "");
  });
  if (report == "setup") GTEST_SKIP() << "cannot mount a tmpfs in a mount namespace here";
  EXPECT_EQ(report.rfind("RESOURCE_EXHAUSTED: cannot reserve 33554432 bytes for pool ", 0), 0u)
      << report;
  EXPECT_NE(report.find("the tmpfs at /tmp/notnets-small-"), std::string::npos) << report;
  EXPECT_NE(report.find("bytes free"), std::string::npos) << report;
  EXPECT_EQ(report.find("LEFT"), std::string::npos) << "the pool file was left: " << report;
}

// An arena's segment on a 4 MiB tmpfs: its 64 MiB fit as a sparse file, and making more of it
// memory than the tmpfs holds fails with RESOURCE_EXHAUSTED instead of killing the writer with
// SIGBUS. Skipped unless root.
TEST(PoolFilesTest, AnArenaTheFileSystemCannotHoldFailsWhenMadeRealNotWithSigbus) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  std::string report = OnSmallTmpfs([](const std::string& dir) {
    std::unique_ptr<internal::Segment> segment;
    Status status =
        internal::Segment::CreateSparse(dir + "/pool", "", 4096, 64 << 20, ::geteuid(), &segment);
    std::string made = "created " + status.ToString();
    if (status.ok()) {
      made += "; small " + segment->MakeReal(0, 1 << 20).ToString();
      made += "; large " + segment->MakeReal(1 << 20, 16 << 20).ToString();
    }
    return made;
  });
  ASSERT_EQ(report.rfind("died: ", 0), std::string::npos) << "the writer died: " << report;
  if (report == "setup") GTEST_SKIP() << "cannot mount a tmpfs in a mount namespace here";
  EXPECT_EQ(report.rfind("created OK; small OK; large RESOURCE_EXHAUSTED: cannot give segment ", 0),
            0u)
      << report;
  EXPECT_NE(report.find("bytes free"), std::string::npos) << report;
}

}  // namespace
}  // namespace notnets
