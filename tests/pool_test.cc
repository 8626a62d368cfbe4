// Creating, attaching, inspecting and removing pools, and refusing files that are not pools.
#include "notnets/pool.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "gtest/gtest.h"
#include "pool/layout.h"
#include "test_pool.h"

namespace notnets {
namespace {

using testing::TestPool;
using testing::UniquePoolName;

// Overwrites `size` bytes at `offset` of the file at `path`.
void Poke(const std::string& path, off_t offset, const void* bytes, size_t size) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, bytes, size, offset), static_cast<ssize_t>(size));
  ::close(fd);
}

TEST(PoolTest, PathForNamesAndPaths) {
  EXPECT_EQ(Pool::PathFor("abc"), "/dev/shm/notnets-abc");
  EXPECT_EQ(Pool::PathFor("/tmp/x.pool"), "/tmp/x.pool");
}

TEST(PoolTest, CreateAttachRemove) {
  std::string name = UniquePoolName("car");
  PoolOptions options;
  options.size_bytes = 8 << 20;
  std::shared_ptr<Pool> created;
  ASSERT_TRUE(Pool::Create(name, options, &created).ok());
  std::shared_ptr<Pool> attached;
  ASSERT_TRUE(Pool::Attach(name, &attached).ok());
  PoolStats stats = attached->Stats();
  EXPECT_EQ(stats.layout_version, internal::kPoolLayoutVersion);
  EXPECT_EQ(stats.size_bytes, 8u << 20);
  EXPECT_EQ(stats.heap_used_bytes, 0u);
  EXPECT_EQ(stats.heap_free_bytes, stats.heap_bytes);
  EXPECT_EQ(Pool::Create(name, options, &created).error_code(), StatusCode::ALREADY_EXISTS);
  ASSERT_TRUE(Pool::Remove(name).ok());
  EXPECT_EQ(Pool::Attach(name, &attached).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(Pool::Remove(name).error_code(), StatusCode::NOT_FOUND);
}

TEST(PoolTest, AttachOrCreateCreatesOnceThenAttaches) {
  std::string name = UniquePoolName("aoc");
  std::shared_ptr<Pool> first, second;
  ASSERT_TRUE(Pool::AttachOrCreate(name, PoolOptions(), &first).ok());
  ASSERT_TRUE(Pool::AttachOrCreate(name, PoolOptions(), &second).ok());
  EXPECT_EQ(first->path(), second->path());
  Pool::Remove(name);
}

TEST(PoolTest, RejectsOutOfRangeOptions) {
  std::shared_ptr<Pool> pool;
  PoolOptions tiny;
  tiny.size_bytes = 4096;
  EXPECT_EQ(Pool::Create(UniquePoolName("tiny"), tiny, &pool).error_code(),
            StatusCode::INVALID_ARGUMENT);
  PoolOptions no_services;
  no_services.max_services = 0;
  EXPECT_EQ(Pool::Create(UniquePoolName("nosvc"), no_services, &pool).error_code(),
            StatusCode::INVALID_ARGUMENT);
}

TEST(PoolTest, RefusesAFileThatIsNotAPool) {
  std::string path = "/dev/shm/" + UniquePoolName("garbage");
  std::ofstream(path) << std::string(8192, 'x');
  std::shared_ptr<Pool> pool;
  Status status = Pool::Attach(path, &pool);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("not a notnets pool"), std::string::npos);
  std::ofstream(path, std::ios::trunc) << "short";
  EXPECT_EQ(Pool::Attach(path, &pool).error_code(), StatusCode::FAILED_PRECONDITION);
  ::unlink(path.c_str());
}

TEST(PoolTest, RefusesAnotherLayoutVersion) {
  TestPool test_pool;
  uint32_t version = internal::kPoolLayoutVersion + 1;
  Poke(test_pool.pool()->path(), offsetof(internal::PoolHeader, layout_version), &version,
       sizeof(version));
  std::shared_ptr<Pool> pool;
  Status status = Pool::Attach(test_pool.name(), &pool);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("layout version " + std::to_string(version)),
            std::string::npos)
      << status.error_message();
}

TEST(PoolTest, RefusesACorruptHeader) {
  TestPool test_pool;
  uint64_t heap_offset = 12345;
  Poke(test_pool.pool()->path(), offsetof(internal::PoolHeader, heap_offset), &heap_offset,
       sizeof(heap_offset));
  std::shared_ptr<Pool> pool;
  Status status = Pool::Attach(test_pool.name(), &pool);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("corrupt header"), std::string::npos)
      << status.error_message();
}

TEST(PoolTest, RefusesAHeaderThatClaimsMoreThanTheFile) {
  TestPool test_pool;
  ASSERT_EQ(::truncate(test_pool.pool()->path().c_str(), 2 << 20), 0);
  std::shared_ptr<Pool> pool;
  EXPECT_EQ(Pool::Attach(test_pool.name(), &pool).error_code(), StatusCode::FAILED_PRECONDITION);
}

TEST(PoolTest, NonCoherentModeIsRecordedInTheHeader) {
  PoolOptions options;
  options.coherence = CoherenceMode::kWriteBackInvalidate;
  TestPool test_pool(options);
  std::shared_ptr<Pool> pool;
  ASSERT_TRUE(Pool::Attach(test_pool.name(), &pool).ok());
  EXPECT_EQ(pool->Stats().coherence, CoherenceMode::kWriteBackInvalidate);
}

}  // namespace
}  // namespace notnets
