// The allocator over a scribbled pool header (ctest label `faults`): any process that can open a
// pool can write 8 bytes over a free-list head or a free block's link. Allocation must then fail
// with a status or go on from other memory, never follow the scribble out of the heap (SIGSEGV)
// and never hand out a block someone holds.
#include <cstdint>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "pool/allocator.h"
#include "pool/pool_access.h"
#include "pool/pool_mapping.h"
#include "test_pool.h"

namespace notnets::internal {
namespace {

using notnets::testing::TestPool;

constexpr uint64_t kPayload = 100;  // size class 8 (256-byte blocks)

PoolOptions SmallPool() {
  PoolOptions options;
  options.size_bytes = 1 << 20;
  options.max_services = 4;
  options.call_window_slots = 0;
  return options;
}

std::atomic<uint64_t>& HeadOf(PoolMapping& mapping, uint64_t payload) {
  return mapping.header()->allocator.free_heads[SizeClassFor(payload) - kMinBlockShift];
}

// Scribbled head values: beyond the pool, in the header, unaligned, at the last byte of the heap.
std::vector<uint64_t> Scribbles(const PoolMapping& mapping) {
  return {0xffffffffffffffffull,
          0x00000001ffffffffull,
          1,
          kPoolHeaderBytes / 64,
          (mapping.heap_offset() + 8) / 64,
          (mapping.heap_end() - 64) / 64};
}

TEST(AllocatorScribbleTest, AScribbledFreeListHeadIsNeverFollowedOutOfTheHeap) {
  TestPool test_pool(SmallPool());
  PoolMapping& mapping = PoolAccess::mapping(*test_pool.pool());
  Allocator allocator(&mapping);
  for (uint64_t scribble : Scribbles(mapping)) {
    uint64_t freed;
    ASSERT_TRUE(allocator.Allocate(kPayload, 1, &freed).ok());
    allocator.Free(freed);  // the class's list is not empty
    HeadOf(mapping, kPayload).store(scribble);
    uint64_t offset;
    Status status = allocator.Allocate(kPayload, 1, &offset);
    ASSERT_TRUE(status.ok()) << status.ToString();  // carved from the heap's unused tail
    EXPECT_NE(allocator.ValidBlock(offset), nullptr);
    EXPECT_TRUE(mapping.InHeap(offset, BlockBytes(SizeClassFor(kPayload))));
    allocator.Free(offset);
  }
}

TEST(AllocatorScribbleTest, AScribbledHeadOnAFullPoolGivesResourceExhausted) {
  TestPool test_pool(SmallPool());
  PoolMapping& mapping = PoolAccess::mapping(*test_pool.pool());
  Allocator allocator(&mapping);
  std::vector<uint64_t> held;
  for (uint64_t offset; allocator.Allocate(kPayload, 1, &offset).ok();) held.push_back(offset);
  ASSERT_FALSE(held.empty());
  allocator.Free(held.back());
  held.pop_back();
  for (uint64_t scribble : Scribbles(mapping)) {
    HeadOf(mapping, kPayload).store(scribble);
    uint64_t offset;
    EXPECT_EQ(allocator.Allocate(kPayload, 1, &offset).error_code(),
              StatusCode::RESOURCE_EXHAUSTED);
  }
}

TEST(AllocatorScribbleTest, AHeadOrLinkScribbledToAHeldBlockNeverHandsItOut) {
  TestPool test_pool(SmallPool());
  PoolMapping& mapping = PoolAccess::mapping(*test_pool.pool());
  Allocator allocator(&mapping);
  std::vector<uint64_t> blocks(4);
  for (uint64_t& offset : blocks) ASSERT_TRUE(allocator.Allocate(kPayload, 1, &offset).ok());
  allocator.Free(blocks[2]);
  allocator.Free(blocks[3]);
  std::set<uint64_t> held = {blocks[0], blocks[1]};
  // The head names a held block; the free block's link names the other held one.
  HeadOf(mapping, kPayload).store(uint64_t{7} << 32 | blocks[0] / 64);
  mapping.At<BlockHeader>(blocks[3])->next_free.store(blocks[1]);
  for (int i = 0; i < 8; ++i) {
    uint64_t offset;
    Status status = allocator.Allocate(kPayload, 2, &offset);
    if (!status.ok()) {
      EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED);
      continue;
    }
    EXPECT_EQ(held.count(offset), 0u) << "a held block was handed out again";
    EXPECT_TRUE(held.insert(offset).second) << "a block was handed out twice";
  }
}

TEST(AllocatorScribbleTest, FreeingAFreeBlockAgainIsIgnored) {
  TestPool test_pool(SmallPool());
  Allocator allocator(&PoolAccess::mapping(*test_pool.pool()));
  uint64_t offset;
  ASSERT_TRUE(allocator.Allocate(kPayload, 1, &offset).ok());
  allocator.Free(offset);
  allocator.Free(offset);
  uint64_t first;
  uint64_t second;
  ASSERT_TRUE(allocator.Allocate(kPayload, 1, &first).ok());
  ASSERT_TRUE(allocator.Allocate(kPayload, 1, &second).ok());
  EXPECT_NE(first, second);
}

}  // namespace
}  // namespace notnets::internal
