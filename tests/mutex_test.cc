// The annotated locks: a Mutex excludes, a CondVar wakes its waiter, a TryFlag is held by one
// thread at a time.
#include "rpc/mutex.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace notnets::internal {
namespace {

struct Counter {
  Mutex mutex;
  int value NOTNETS_GUARDED_BY(mutex) = 0;
};

TEST(MutexTest, IncrementsUnderTheLockAreNotLost) {
  Counter counter;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&counter] {
      for (int i = 0; i < 10000; ++i) {
        MutexLock lock(&counter.mutex);
        counter.value = counter.value + 1;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  MutexLock lock(&counter.mutex);
  EXPECT_EQ(counter.value, 40000);
}

TEST(MutexTest, ACondVarWakesAWaiterAndGivesItTheLockBack) {
  Counter counter;
  CondVar changed;
  std::thread setter([&] {
    MutexLock lock(&counter.mutex);
    counter.value = 1;
    changed.SignalAll();
  });
  {
    MutexLock lock(&counter.mutex);
    while (counter.value == 0) changed.Wait(&counter.mutex);
    counter.value = 2;  // still held: the analysis and TSan agree
  }
  setter.join();
  MutexLock lock(&counter.mutex);
  EXPECT_EQ(counter.value, 2);
}

TEST(MutexTest, ATryFlagIsHeldByOneAtATime) {
  TryFlag flag;
  if (!flag.TryLock()) FAIL() << "a fresh flag is free";
  bool other = false;
  std::thread([&] {
    if (flag.TryLock()) {
      other = true;
      flag.Unlock();
    }
  }).join();
  EXPECT_FALSE(other);
  flag.Unlock();
  if (!flag.TryLock()) FAIL() << "an unlocked flag is free";
  flag.Unlock();
}

}  // namespace
}  // namespace notnets::internal
