// A service name's file: created whole and read-only by the first registrant, read back by
// everyone, a malformed one taken as its owner's alone, and removed with the pool, never by the
// segment sweep. The tests that need a second user are in name_owner_test.cc.
#include "pool/name_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "notnets/pool.h"
#include "pool/segment_sweep.h"
#include "test_pool.h"

namespace notnets::internal {
namespace {

using notnets::testing::TestPool;

constexpr char kName[] = "test.Named";

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Writes `bytes` as the name file of `service`, with `mode`.
void Plant(const std::string& pool_path, const void* bytes, size_t size, mode_t mode,
           std::string_view service = kName) {
  std::string path = NameFilePath(pool_path, service);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::write(fd, bytes, size), static_cast<ssize_t>(size));
  ASSERT_EQ(::fchmod(fd, mode), 0);
  ::close(fd);
}

NameFileLayout WellFormedLayout(const std::vector<uint32_t>& registrants) {
  NameFileLayout layout{};
  layout.magic = kNameFileMagic;
  layout.layout_version = kNameFileLayoutVersion;
  layout.registrant_count = static_cast<uint32_t>(registrants.size());
  for (size_t i = 0; i < registrants.size(); ++i) layout.registrants[i] = registrants[i];
  layout.name_length = sizeof(kName) - 1;
  std::memcpy(layout.name, kName, layout.name_length);
  return layout;
}

class NameFileTest : public ::testing::Test {
 protected:
  std::string path() const { return pool_.pool()->path(); }
  uint32_t self_ = static_cast<uint32_t>(::geteuid());
  TestPool pool_;
};

TEST_F(NameFileTest, AFileNameIsThePoolsWithTheServiceOrItsHash) {
  EXPECT_EQ(NameFilePath("/dev/shm/notnets-p", "pkg.Service"),
            "/dev/shm/notnets-p.name.pkg.Service");
  std::string slash = NameFilePath("/dev/shm/notnets-p", "a/b");
  std::string hash = NameFilePath("/dev/shm/notnets-p", "#a");
  for (const std::string& hashed : {slash, hash}) {
    EXPECT_EQ(hashed.rfind("/dev/shm/notnets-p.name.#", 0), 0u) << hashed;
    EXPECT_EQ(hashed.size(), std::strlen("/dev/shm/notnets-p.name.#") + 32) << hashed;
  }
  // 80 + 6 + 143 bytes, and 26 more while the file is built: NAME_MAX; one more is hashed.
  std::string long_pool = "/dev/shm/" + std::string(80, 'p');
  EXPECT_EQ(NameFilePath(long_pool, std::string(143, 'x')),
            long_pool + ".name." + std::string(143, 'x'));
  std::string long_name = NameFilePath(long_pool, std::string(144, 'x'));
  EXPECT_EQ(long_name.size(), long_pool.size() + std::strlen(".name.#") + 32) << long_name;
  EXPECT_NE(slash, hash);
  EXPECT_EQ(NameFilePath("/dev/shm/notnets-p", std::string("a\0b", 3)).size(), slash.size());
  EXPECT_NE(NameFilePath("/dev/shm/notnets-p", "a/c"), slash);
}

TEST_F(NameFileTest, TheFirstClaimWritesTheFileAndLaterClaimsReadIt) {
  NameOwner owner;
  ASSERT_TRUE(ClaimName(path(), kName, self_, {self_ + 1, self_ + 2}, &owner).ok());
  EXPECT_EQ(owner.uid, self_);
  EXPECT_EQ(owner.registrants, (std::vector<uint32_t>{self_ + 1, self_ + 2}));

  struct stat st {};
  ASSERT_EQ(::stat(NameFilePath(path(), kName).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0444u);
  EXPECT_EQ(st.st_size, static_cast<off_t>(sizeof(NameFileLayout)));

  // A later registrant's list changes nothing: the file is written once.
  NameOwner again;
  ASSERT_TRUE(ClaimName(path(), kName, self_, {self_ + 9}, &again).ok());
  EXPECT_EQ(again.uid, self_);
  EXPECT_EQ(again.registrants, (std::vector<uint32_t>{self_ + 1, self_ + 2}));
  bool well_formed = false;
  NameOwner read;
  ASSERT_TRUE(ReadNameFile(path(), kName, &read, &well_formed));
  EXPECT_TRUE(well_formed);
  EXPECT_EQ(read.registrants, (std::vector<uint32_t>{self_ + 1, self_ + 2}));
  EXPECT_FALSE(ReadNameFile(path(), "test.Other", &read));
}

TEST_F(NameFileTest, AMalformedFileIsItsOwnersAloneWithNoListedUsers) {
  NameFileLayout bad_magic = WellFormedLayout({self_ + 1});
  bad_magic.magic ^= 1;
  NameFileLayout bad_version = WellFormedLayout({self_ + 1});
  bad_version.layout_version = kNameFileLayoutVersion + 1;
  NameFileLayout too_many = WellFormedLayout({self_ + 1});
  too_many.registrant_count = kMaxRegistrants + 1;
  NameFileLayout other_name = WellFormedLayout({self_ + 1});
  other_name.name[0] = 'T';
  NameFileLayout long_name = WellFormedLayout({self_ + 1});
  long_name.name_length = kNameFileNameBytes + 1;
  NameFileLayout good = WellFormedLayout({self_ + 1});
  struct Case {
    const char* what;
    const void* bytes;
    size_t size;
    mode_t mode;
  };
  const Case cases[] = {
      {"bad magic", &bad_magic, sizeof(bad_magic), 0444},
      {"bad version", &bad_version, sizeof(bad_version), 0444},
      {"too many registrants", &too_many, sizeof(too_many), 0444},
      {"another service's name", &other_name, sizeof(other_name), 0444},
      {"name too long", &long_name, sizeof(long_name), 0444},
      {"cut short", &good, sizeof(good) - 1, 0444},
      {"empty", &good, 0, 0444},
      {"writable by others", &good, sizeof(good), 0666},
      {"writable by its group", &good, sizeof(good), 0464},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Plant(path(), c.bytes, c.size, c.mode);
    NameOwner owner;
    bool well_formed = true;
    ASSERT_TRUE(ReadNameFile(path(), kName, &owner, &well_formed));
    EXPECT_FALSE(well_formed);
    EXPECT_EQ(owner.uid, self_);
    EXPECT_TRUE(owner.registrants.empty());
    // A claim keeps the file as it is.
    ASSERT_TRUE(ClaimName(path(), kName, self_, {self_ + 1}, &owner).ok());
    EXPECT_TRUE(owner.registrants.empty());
    ASSERT_EQ(::unlink(NameFilePath(path(), kName).c_str()), 0);
  }
  Plant(path(), &good, sizeof(good), 0444);
  NameOwner owner;
  bool well_formed = false;
  ASSERT_TRUE(ReadNameFile(path(), kName, &owner, &well_formed));
  EXPECT_TRUE(well_formed);
  EXPECT_EQ(owner.registrants, (std::vector<uint32_t>{self_ + 1}));
}

TEST_F(NameFileTest, ANameLengthPastTheFilesRoomIsNeverRead) {
  // A service name longer than any registered one, as a client may ask for: a file that claims
  // its length is not read past its name field.
  std::string service(300, 'x');
  NameFileLayout layout = WellFormedLayout({self_ + 1});
  layout.name_length = static_cast<uint32_t>(service.size());
  std::memset(layout.name, 'x', sizeof(layout.name));
  Plant(path(), &layout, sizeof(layout), 0444, service);
  NameOwner owner;
  bool well_formed = true;
  ASSERT_TRUE(ReadNameFile(path(), service, &owner, &well_formed));
  EXPECT_FALSE(well_formed);
  EXPECT_TRUE(owner.registrants.empty());
}

TEST_F(NameFileTest, WhatIsNotARegularFileIsItsOwnersAndNeverWaitedOn) {
  std::string name_path = NameFilePath(path(), kName);
  ASSERT_EQ(::mkfifo(name_path.c_str(), 0666), 0);
  NameOwner owner;
  bool well_formed = true;
  ASSERT_TRUE(ReadNameFile(path(), kName, &owner, &well_formed));
  EXPECT_FALSE(well_formed);
  EXPECT_EQ(owner.uid, self_);
  EXPECT_TRUE(owner.registrants.empty());
  ASSERT_EQ(::unlink(name_path.c_str()), 0);

  ASSERT_EQ(::symlink("/etc/passwd", name_path.c_str()), 0);
  ASSERT_TRUE(ReadNameFile(path(), kName, &owner, &well_formed));
  EXPECT_FALSE(well_formed);
  EXPECT_EQ(owner.uid, self_);
  ASSERT_EQ(::unlink(name_path.c_str()), 0);
}

TEST_F(NameFileTest, TheSegmentSweepKeepsNameFilesAndRemovingThePoolRemovesThem) {
  NameOwner owner;
  ASSERT_TRUE(ClaimName(path(), kName, self_, {}, &owner).ok());
  ASSERT_TRUE(ClaimName(path(), "a/b", self_, {}, &owner).ok());
  // Every creator is dead as far as this sweep knows.
  RemoveSegmentsOfDeadCreators(path(), [](uint64_t) { return false; });
  EXPECT_TRUE(Exists(NameFilePath(path(), kName)));
  EXPECT_TRUE(Exists(NameFilePath(path(), "a/b")));

  // A pool whose name looks like one of this pool's name files is not one.
  std::string lookalike = NameFilePath(path(), "lookalike");
  std::shared_ptr<Pool> other;
  ASSERT_TRUE(Pool::Create(lookalike, PoolOptions(), &other).ok());
  ASSERT_TRUE(Pool::Remove(path()).ok());
  EXPECT_FALSE(Exists(NameFilePath(path(), kName)));
  EXPECT_FALSE(Exists(NameFilePath(path(), "a/b")));
  EXPECT_TRUE(Exists(lookalike));
  EXPECT_TRUE(Pool::Remove(lookalike).ok());
}

}  // namespace
}  // namespace notnets::internal
