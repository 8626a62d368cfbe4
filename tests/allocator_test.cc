// The pool-wide block allocator: size classes, reuse, splitting, exhaustion, validation.
#include "pool/allocator.h"

#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "pool/pool_access.h"
#include "pool/pool_mapping.h"
#include "test_pool.h"

namespace notnets::internal {
namespace {

using notnets::testing::TestPool;

PoolOptions SmallPool() {
  PoolOptions options;
  options.size_bytes = 4 << 20;
  options.max_services = 4;
  return options;
}

TEST(AllocatorTest, AllocatesBlocksOfTheRightClassInsideTheHeap) {
  TestPool test_pool(SmallPool());
  PoolMapping& mapping = PoolAccess::mapping(*test_pool.pool());
  Allocator allocator(&mapping);
  for (uint64_t payload : {0ull, 1ull, 192ull, 193ull, 5000ull, 100000ull}) {
    uint64_t offset;
    ASSERT_TRUE(allocator.Allocate(payload, 7, &offset).ok());
    BlockHeader* block = allocator.ValidBlock(offset);
    ASSERT_NE(block, nullptr);
    EXPECT_GE(Allocator::PayloadCapacity(Allocator::SizeClassOf(block)), payload);
    EXPECT_EQ(Allocator::SizeClassOf(block), SizeClassFor(payload));
    EXPECT_EQ(block->ownership.load(), BlockOwnership(7, BlockState::kOwned));
    EXPECT_TRUE(mapping.InHeap(offset, BlockBytes(Allocator::SizeClassOf(block))));
  }
}

TEST(AllocatorTest, FreedBlocksAreReusedAndUsageReturnsToZero) {
  TestPool test_pool(SmallPool());
  Allocator allocator(&PoolAccess::mapping(*test_pool.pool()));
  uint64_t first;
  ASSERT_TRUE(allocator.Allocate(1000, 1, &first).ok());
  EXPECT_EQ(allocator.Usage().blocks_in_use, 1u);
  allocator.Free(first);
  uint64_t second;
  ASSERT_TRUE(allocator.Allocate(1000, 1, &second).ok());
  EXPECT_EQ(first, second);
  allocator.Free(second);
  HeapUsage usage = allocator.Usage();
  EXPECT_TRUE(usage.consistent);
  EXPECT_EQ(usage.used_bytes, 0u);
  EXPECT_EQ(usage.blocks_in_use, 0u);
}

TEST(AllocatorTest, ExhaustionIsResourceExhaustedAndLargerFreeBlocksAreSplit) {
  TestPool test_pool(SmallPool());
  Allocator allocator(&PoolAccess::mapping(*test_pool.pool()));
  std::vector<uint64_t> big;
  uint64_t offset;
  while (allocator.Allocate(200000, 1, &offset).ok()) big.push_back(offset);
  ASSERT_FALSE(big.empty());
  Status status = allocator.Allocate(200000, 1, &offset);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("larger size"), std::string::npos);
  // Small blocks come from what is left, then from splitting a freed large block.
  allocator.Free(big.back());
  std::set<uint64_t> small;
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE(allocator.Allocate(100, 1, &offset).ok());
    EXPECT_TRUE(small.insert(offset).second);
  }
  for (uint64_t block : small) allocator.Free(block);
  big.pop_back();
  for (uint64_t block : big) allocator.Free(block);
  EXPECT_EQ(allocator.Usage().used_bytes, 0u);
}

TEST(AllocatorTest, MessagesLargerThanThePoolAreRefused) {
  TestPool test_pool(SmallPool());
  Allocator allocator(&PoolAccess::mapping(*test_pool.pool()));
  uint64_t offset;
  EXPECT_EQ(allocator.Allocate(8 << 20, 1, &offset).error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(allocator.Allocate(~0ull / 2, 1, &offset).error_code(), StatusCode::RESOURCE_EXHAUSTED);
}

TEST(AllocatorTest, ValidBlockRejectsBadOffsets) {
  TestPool test_pool(SmallPool());
  PoolMapping& mapping = PoolAccess::mapping(*test_pool.pool());
  Allocator allocator(&mapping);
  uint64_t offset;
  ASSERT_TRUE(allocator.Allocate(100, 1, &offset).ok());
  EXPECT_NE(allocator.ValidBlock(offset), nullptr);
  EXPECT_EQ(allocator.ValidBlock(0), nullptr);                   // the pool header
  EXPECT_EQ(allocator.ValidBlock(offset + 8), nullptr);          // unaligned
  EXPECT_EQ(allocator.ValidBlock(offset + 64), nullptr);         // inside a block: no magic
  EXPECT_EQ(allocator.ValidBlock(mapping.heap_end()), nullptr);  // past the end
  EXPECT_EQ(allocator.ValidBlock(~0ull - 63), nullptr);          // wraps around
  // A block header claiming a size that runs past the heap.
  auto* block = mapping.At<BlockHeader>(offset);
  block->format.store(BlockFormat(kMaxBlockShift));
  EXPECT_EQ(allocator.ValidBlock(offset), nullptr);
  block->format.store(BlockFormat(3));
  EXPECT_EQ(allocator.ValidBlock(offset), nullptr);
}

TEST(AllocatorTest, ConcurrentAllocateAndFreeNeverHandOutABlockTwice) {
  TestPool test_pool(SmallPool());
  Allocator allocator(&PoolAccess::mapping(*test_pool.pool()));
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<uint64_t> mine;
      for (int i = 0; i < kRounds; ++i) {
        uint64_t offset;
        if (!allocator.Allocate(64 + (i % 5) * 300, t + 1, &offset).ok()) {
          ++failures;
          continue;
        }
        // Stamp the block: another owner would overwrite it.
        auto* payload = allocator.mapping()->At<uint64_t>(offset + kBlockHeaderBytes);
        *payload = static_cast<uint64_t>(t) << 32 | i;
        mine.push_back(offset);
        if (mine.size() > 8) {
          uint64_t oldest = mine.front();
          mine.erase(mine.begin());
          if (*allocator.mapping()->At<uint64_t>(oldest + kBlockHeaderBytes) >> 32 !=
              static_cast<uint64_t>(t)) {
            ++failures;
          }
          allocator.Free(oldest);
        }
      }
      for (uint64_t offset : mine) allocator.Free(offset);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(allocator.Usage().used_bytes, 0u);
}

}  // namespace
}  // namespace notnets::internal
