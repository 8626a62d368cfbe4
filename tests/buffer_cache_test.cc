// A connection side's block cache: reuse, its per-class limits, returning everything to the pool,
// and the hand-over of a block from one endpoint to another.
#include "rpc/buffer_cache.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pool/pool_access.h"
#include "pool/allocator.h"
#include "pool/block.h"
#include "pool/pool_mapping.h"
#include "test_pool.h"

namespace notnets::internal {
namespace {

using notnets::testing::TestPool;

constexpr uint64_t kWriter = 10;
constexpr uint64_t kReader = 11;

PoolOptions SmallPool() {
  PoolOptions options;
  options.size_bytes = 8 << 20;
  options.max_services = 4;
  options.call_window_slots = 0;
  return options;
}

class BufferCacheTest : public ::testing::Test {
 protected:
  BufferCacheTest()
      : test_pool_(SmallPool(), "cache"),
        allocator_(&PoolAccess::mapping(*test_pool_.pool())),
        empty_(HeapUsed()) {}

  std::shared_ptr<BufferCache> NewCache(uint64_t endpoint) {
    return std::make_shared<BufferCache>(test_pool_.pool(), endpoint, 0);
  }
  uint64_t HeapUsed() const { return allocator_.Usage().used_bytes; }
  uint64_t OwnershipOf(uint64_t block) const {
    return allocator_.ValidBlock(block)->ownership.load();
  }

  TestPool test_pool_;
  Allocator allocator_;
  uint64_t empty_;
};

TEST_F(BufferCacheTest, AReleasedBlockIsReusedForItsSizeClass) {
  auto cache = NewCache(kWriter);
  uint64_t first;
  ASSERT_TRUE(cache->AllocateBlock(100, &first).ok());
  EXPECT_EQ(OwnershipOf(first), BlockOwnership(kWriter, BlockState::kOwned));
  cache->Release(first);
  EXPECT_EQ(OwnershipOf(first), BlockOwnership(kWriter, BlockState::kOwned)) << "cached, not freed";
  uint64_t used = HeapUsed();

  uint64_t other_class;
  ASSERT_TRUE(cache->AllocateBlock(1000, &other_class).ok());
  EXPECT_NE(other_class, first);
  uint64_t again;
  ASSERT_TRUE(cache->AllocateBlock(150, &again).ok());
  EXPECT_EQ(again, first);
  EXPECT_EQ(HeapUsed(), used + BlockBytes(SizeClassFor(1000)));
}

TEST_F(BufferCacheTest, EachClassKeepsAtMostItsLimitAndTheRestGoesBackToThePool) {
  auto cache = NewCache(kWriter);
  // Small classes (up to 64 KiB blocks) keep 32 blocks, larger ones 2.
  struct Case {
    uint64_t payload;
    uint32_t kept;
  };
  for (Case each : {Case{100, 32}, Case{(64 << 10) - 64, 32}, Case{100 << 10, 2}}) {
    uint64_t before = HeapUsed();
    std::vector<uint64_t> blocks(each.kept + 5);
    for (uint64_t& block : blocks) ASSERT_TRUE(cache->AllocateBlock(each.payload, &block).ok());
    for (uint64_t block : blocks) cache->Release(block);
    EXPECT_EQ(HeapUsed(), before + each.kept * BlockBytes(SizeClassFor(each.payload)))
        << each.payload << "-byte payloads";
  }
}

TEST_F(BufferCacheTest, DestroyingTheCacheReturnsEveryCachedBlock) {
  auto cache = NewCache(kWriter);
  std::vector<uint64_t> blocks(10);
  for (size_t i = 0; i < blocks.size(); ++i) {
    ASSERT_TRUE(cache->AllocateBlock(100 << i, &blocks[i]).ok());
  }
  for (uint64_t block : blocks) cache->Release(block);
  EXPECT_GT(HeapUsed(), empty_);
  cache.reset();
  EXPECT_EQ(HeapUsed(), empty_);
}

TEST_F(BufferCacheTest, AMessageBufferGoesBackToItsCacheWhenDropped) {
  auto cache = NewCache(kWriter);
  uint64_t offset;
  {
    MessageBuffer buffer;
    ASSERT_TRUE(cache->Allocate(3000, &buffer).ok());
    ASSERT_TRUE(buffer.valid());
    EXPECT_EQ(buffer.size(), 3000u);
    EXPECT_GE(buffer.capacity(), 3000u);
    offset = PoolAccess::mapping(*test_pool_.pool()).OffsetOf(buffer.data()) - kBlockHeaderBytes;
  }
  uint64_t again;
  ASSERT_TRUE(cache->AllocateBlock(3000, &again).ok());
  EXPECT_EQ(again, offset);
}

TEST_F(BufferCacheTest, APublishedBlockIsAdoptedOnceAndOnlyByItsReader) {
  auto writer = NewCache(kWriter);
  auto reader = NewCache(kReader);
  auto stranger = NewCache(kReader + 1);
  const std::string message = "a message of some length, over the inline bytes";
  uint64_t block;
  ASSERT_TRUE(writer->AllocateBlock(message.size(), &block).ok());
  std::memcpy(writer->PayloadOf(block), message.data(), message.size());
  writer->PublishBlock(block, message.size(), kReader);
  EXPECT_EQ(OwnershipOf(block), BlockOwnership(kReader, BlockState::kPublished));

  EXPECT_EQ(stranger->Adopt(block, message.size()), nullptr);
  const uint8_t* payload = reader->Adopt(block, message.size());
  ASSERT_NE(payload, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(payload), message.size()), message);
  EXPECT_EQ(OwnershipOf(block), BlockOwnership(kReader, BlockState::kOwned));
  EXPECT_EQ(reader->Adopt(block, message.size()), nullptr) << "adopted twice";
  reader->Release(block);
}

TEST_F(BufferCacheTest, AdoptRefusesWhatDoesNotValidate) {
  auto writer = NewCache(kWriter);
  auto reader = NewCache(kReader);
  EXPECT_EQ(reader->Adopt(0, 1), nullptr);
  EXPECT_EQ(reader->Adopt(12345, 1), nullptr);
  EXPECT_EQ(reader->Adopt(PoolAccess::mapping(*test_pool_.pool()).heap_end(), 1), nullptr);

  // A length beyond the block: refused, and the block (the reader's now) kept for reuse.
  uint64_t block;
  ASSERT_TRUE(writer->AllocateBlock(100, &block).ok());
  writer->PublishBlock(block, 100, kReader);
  EXPECT_EQ(reader->Adopt(block, Allocator::PayloadCapacity(SizeClassFor(100)) + 1), nullptr);
  EXPECT_EQ(OwnershipOf(block), BlockOwnership(kReader, BlockState::kOwned));
  uint64_t reused;
  ASSERT_TRUE(reader->AllocateBlock(100, &reused).ok());
  EXPECT_EQ(reused, block);
}

TEST_F(BufferCacheTest, ABlockLargerThanThePoolIsResourceExhausted) {
  auto cache = NewCache(kWriter);
  uint64_t block;
  Status status = cache->AllocateBlock(16 << 20, &block);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.ToString();
  EXPECT_EQ(HeapUsed(), empty_);
}

}  // namespace
}  // namespace notnets::internal
