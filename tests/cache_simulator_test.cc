// The cache simulator itself (docs/noncoherent.md): a cache it starts holds nothing dirty, so
// it writes back nothing that this process did not store. Runs only under the simulator (the
// `noncoherent` label); elsewhere each test is skipped.
#include "pool/cache_simulator.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "gtest/gtest.h"

namespace notnets::internal {
namespace {

// Large enough that copying it takes a while, so that another process's stores land between the
// moments two copies of one line would be taken.
constexpr uint64_t kRegionBytes = 4 << 20;
constexpr int kAttempts = 10;

TEST(CacheSimulatorTest, ACacheStartedWhileMemoryChangesWritesBackNothing) {
  if (!CacheSimulatorEnabled()) GTEST_SKIP() << "needs NOTNETS_CACHE_SIMULATOR=1";
  void* mapped =
      ::mmap(nullptr, kRegionBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mapped, MAP_FAILED);
  auto* shared = static_cast<uint8_t*>(mapped);
  // Every page holds something, so that the simulator copies every one.
  for (uint64_t offset = 0; offset < kRegionBytes; offset += 4096) shared[offset] = 1;
  auto* word = reinterpret_cast<SharedWord*>(shared);
  int overwritten = 0;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    // Another host keeps storing to the first line while this one starts its cache.
    std::atomic<bool> stop{false};
    std::thread other_host([&] {
      for (uint64_t value = 2; !stop.load(std::memory_order_relaxed); ++value) {
        word->store(value, std::memory_order_release);
      }
    });
    uint8_t* cache = BeginSimulatedCache(shared, kRegionBytes);
    stop.store(true);
    other_host.join();
    uint64_t in_memory = word->load(std::memory_order_acquire);
    // This process stored nothing: its invalidate must fetch the line, never write it back.
    ASSERT_TRUE(SimulatedInvalidate(cache, kCacheLineBytes));
    if (word->load(std::memory_order_acquire) != in_memory) ++overwritten;
    EXPECT_EQ(reinterpret_cast<SharedWord*>(cache)->load(), in_memory);
    EXPECT_EQ(EndSimulatedCache(cache), shared);
  }
  EXPECT_EQ(overwritten, 0) << "of " << kAttempts << " caches";
  ::munmap(mapped, kRegionBytes);
}

}  // namespace
}  // namespace notnets::internal
