// The cache simulator itself (docs/noncoherent.md): a cache it starts holds nothing dirty, so
// it writes back nothing that this process did not store. Runs only under the simulator (the
// `noncoherent` label); elsewhere each test is skipped.
#include "pool/cache_simulator.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "gtest/gtest.h"
#include "notnets/pool.h"
#include "pool/segment.h"
#include "test_pool.h"

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
    uint8_t* cache = BeginSimulatedCache(shared, kRegionBytes, kRegionBytes);
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

// A process stores into its stale copy of a line exactly the bytes that copy held, after another
// process wrote others to memory, and writes the line back: a real cache writes the stored line,
// whatever its bytes. The simulator, which sees values and not stores, took the line for clean
// and wrote nothing, so the reader got the other process's older bytes: a process that owned a
// block again and wrote into it what its stale copy already held (the soak's messages repeat one
// pattern) published the wrong bytes.
TEST(CacheSimulatorTest, AWriteBackWritesALineStoredWithWhatItsStaleCopyHeld) {
  if (!CacheSimulatorEnabled()) GTEST_SKIP() << "needs NOTNETS_CACHE_SIMULATOR=1";
  constexpr uint64_t kBytes = 4096;
  constexpr uint64_t kOurs = 0x6f757273;
  constexpr uint64_t kTheirs = 0x7468656972;
  void* mapped = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mapped, MAP_FAILED);
  auto* shared = static_cast<SharedWord*>(mapped);
  constexpr size_t kWords = kCacheLineBytes / sizeof(SharedWord);
  for (size_t i = 0; i < kWords; ++i) shared[i].store(kOurs);
  auto* cache = reinterpret_cast<SharedWord*>(
      BeginSimulatedCache(static_cast<uint8_t*>(mapped), kBytes, kBytes));
  // Another process writes the line in memory; this one's copy is stale now.
  for (size_t i = 0; i < kWords; ++i) shared[i].store(kTheirs);
  // This process writes the line again, with what its copy already held, and writes it back.
  for (size_t i = 0; i < kWords; ++i) cache[i].store(kOurs);
  ASSERT_TRUE(SimulatedWriteBack(cache, kCacheLineBytes));
  for (size_t i = 0; i < kWords; ++i) EXPECT_EQ(shared[i].load(), kOurs) << "word " << i;
  EXPECT_EQ(EndSimulatedCache(reinterpret_cast<uint8_t*>(cache)), mapped);
  ::munmap(mapped, kBytes);
}

// A connection's segments are seen through the simulator as the pool is: the writer's and the
// reader's mappings of one segment are two caches, even in one process, and bytes move between
// them only by a write-back and an invalidate. A reader that attaches the segment over its
// placeholder holds no line of it yet, so it sees what was written back before.
TEST(CacheSimulatorTest, ASegmentsBytesReachItsReaderOnlyThroughThePrimitives) {
  if (!CacheSimulatorEnabled()) GTEST_SKIP() << "needs NOTNETS_CACHE_SIMULATOR=1";
  constexpr uint64_t kBytes = 4096;
  std::string pool = Pool::PathFor(testing::UniquePoolName("simulated-segment"));
  std::unique_ptr<Segment> placeholder = Segment::Placeholder(kBytes, kBytes);
  ASSERT_NE(placeholder, nullptr);
  std::unique_ptr<Segment> writer;
  ASSERT_TRUE(Segment::Create(pool, kBytes, kBytes, ::geteuid(), &writer).ok());
  auto* written = reinterpret_cast<SharedWord*>(writer->base());
  written[0].store(1);
  std::unique_ptr<Segment> reader;
  ASSERT_TRUE(Segment::Open(pool, writer->name(), kBytes, &reader).ok());
  auto* read = reinterpret_cast<SharedWord*>(reader->base());
  EXPECT_EQ(read[0].load(), 0u) << "a store that was not written back reached the reader";
  ASSERT_TRUE(SimulatedWriteBack(written, sizeof(SharedWord)));
  EXPECT_EQ(read[0].load(), 0u) << "the reader's cached line changed without an invalidate";
  ASSERT_TRUE(SimulatedInvalidate(read, sizeof(SharedWord)));
  EXPECT_EQ(read[0].load(), 1u);
  ASSERT_TRUE(placeholder->Attach(pool, writer->name(), ::geteuid()).ok());
  EXPECT_EQ(reinterpret_cast<SharedWord*>(placeholder->base())[0].load(), 1u);
}

}  // namespace
}  // namespace notnets::internal
