// Pools on hugetlbfs: scripts/run-on-hugetlbfs.sh mounts one, points NOTNETS_TEST_POOL_DIR at it
// and runs these with the RPC and multi-process tests; without that directory they are skipped.
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "notnets/pool.h"
#include "test_pool.h"

namespace notnets {
namespace {

// HugePages_Free from /proc/meminfo, or -1 if it cannot be read.
long FreeHugePages() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  long value = 0;
  while (meminfo >> key >> value) {
    if (key == "HugePages_Free:") return value;
    meminfo.ignore(256, '\n');
  }
  return -1;
}

class PoolOnHugetlbfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* directory = std::getenv("NOTNETS_TEST_POOL_DIR");
    if (directory == nullptr || *directory == '\0') {
      GTEST_SKIP() << "no hugetlbfs directory: scripts/run-on-hugetlbfs.sh runs this test";
    }
    struct statfs fs {};
    ASSERT_EQ(::statfs(directory, &fs), 0) << directory;
    ASSERT_EQ(fs.f_type, HUGETLBFS_MAGIC) << directory << " is not on hugetlbfs";
    huge_page_bytes_ = static_cast<uint64_t>(fs.f_bsize);
  }

  uint64_t huge_page_bytes_ = 0;
};

TEST_F(PoolOnHugetlbfsTest, SizeIsWholeHugePagesReservedAtCreation) {
  std::string name = testing::UniquePoolName("huge");
  PoolOptions options;
  options.size_bytes = 3 * huge_page_bytes_ + 1;
  long free_before = FreeHugePages();
  std::shared_ptr<Pool> pool;
  Status status = Pool::Create(name, options, &pool);
  ASSERT_TRUE(status.ok()) << status.ToString();
  struct stat file {};
  ASSERT_EQ(::stat(pool->path().c_str(), &file), 0);
  EXPECT_EQ(static_cast<uint64_t>(file.st_size), 4 * huge_page_bytes_);
  EXPECT_EQ(pool->Stats().size_bytes, 4 * huge_page_bytes_);
  // Reserved when created, not when first touched: a pool that cannot be backed fails here, not
  // with SIGBUS under load.
  EXPECT_LE(FreeHugePages(), free_before - 4);
  pool.reset();
  ASSERT_TRUE(Pool::Remove(name).ok());
  EXPECT_EQ(FreeHugePages(), free_before);
}

TEST_F(PoolOnHugetlbfsTest, CreateFailsCleanlyWhenHugePagesRunOut) {
  std::string name = testing::UniquePoolName("toohuge");
  PoolOptions options;
  options.size_bytes = static_cast<uint64_t>(FreeHugePages() + 1) * huge_page_bytes_;
  std::shared_ptr<Pool> pool;
  Status status = Pool::Create(name, options, &pool);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.ToString();
  EXPECT_NE(status.error_message().find("hugetlbfs"), std::string::npos) << status.ToString();
  struct stat file {};
  EXPECT_NE(::stat(Pool::PathFor(name).c_str(), &file), 0) << "the failed pool was left behind";
}

}  // namespace
}  // namespace notnets
