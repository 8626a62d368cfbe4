// A pool with a unique name for one test, removed when the test ends.
#ifndef NOTNETS_TESTS_TEST_POOL_H_
#define NOTNETS_TESTS_TEST_POOL_H_

#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "notnets/pool.h"

namespace notnets::testing {

inline std::string UniquePoolName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return "test-" + prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
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
