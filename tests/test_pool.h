// A pool with a unique name for one test, removed when the test ends.
#ifndef NOTNETS_TESTS_TEST_POOL_H_
#define NOTNETS_TESTS_TEST_POOL_H_

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "notnets/pool.h"

namespace notnets::testing {

// Where test pools go: /dev/shm by default, or the directory in NOTNETS_TEST_POOL_DIR (for
// example a hugetlbfs mount, as scripts/run-on-hugetlbfs.sh sets it).
inline std::string InTestPoolDirectory(const std::string& name) {
  const char* directory = std::getenv("NOTNETS_TEST_POOL_DIR");
  if (directory == nullptr || *directory == '\0') return name;
  return std::string(directory) + "/" + name;
}

// A pool name no other test uses, in the test pool directory.
inline std::string UniquePoolName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return InTestPoolDirectory("test-" + prefix + "-" + std::to_string(::getpid()) + "-" +
                             std::to_string(counter++));
}

class TestPool {
 public:
  explicit TestPool(const PoolOptions& options = PoolOptions(), const std::string& prefix = "p")
      : name_(UniquePoolName(prefix)) {
    Status status = Pool::Create(name_, options, &pool_);
    EXPECT_TRUE(status.ok()) << status.ToString();
  }
  ~TestPool() { Pool::Remove(name_); }
  const std::shared_ptr<Pool>& pool() const { return pool_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::shared_ptr<Pool> pool_;
};

}  // namespace notnets::testing

#endif  // NOTNETS_TESTS_TEST_POOL_H_
