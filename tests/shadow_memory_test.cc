// The model of memory without coherence that checks the library's write-backs and invalidates
// (shadow_memory.h): it must see a store that was never written back, and a write-back that its
// reader never invalidated, or the test that relies on it could not fail.
#include "shadow_memory.h"

#include <cstring>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "pool/pool_access.h"
#include "pool/allocator.h"
#include "pool/block.h"
#include "test_pool.h"

namespace notnets::testing {
namespace {

PoolOptions NonCoherentPool() {
  PoolOptions options;
  options.size_bytes = 2 << 20;
  options.max_services = 4;
  options.call_window_slots = 0;
  options.coherence = CoherenceMode::kWriteBackInvalidate;
  return options;
}

// Two mappings of one non-coherent pool, a writer and a reader, and a block between them.
class ShadowMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Pool::Attach(test_pool_.name(), &writer_).ok());
    ASSERT_TRUE(Pool::Attach(test_pool_.name(), &reader_).ok());
    internal::Allocator allocator(&internal::PoolAccess::mapping(*writer_));
    ASSERT_TRUE(allocator.Allocate(1000, 1, &block_).ok());
    shadow_ = std::make_unique<ShadowMemory>(std::vector<std::shared_ptr<Pool>>{writer_, reader_},
                                             std::vector<std::string>{"writer", "reader"});
    if (!shadow_->Start()) {
      GTEST_SKIP() << "the library was built without its test hooks (NOTNETS_FAULT_INJECTION)";
    }
  }
  void TearDown() override {
    if (shadow_) shadow_->Stop();
    internal::Allocator(&internal::PoolAccess::mapping(*writer_)).Free(block_);
  }

  uint8_t* Payload(const std::shared_ptr<Pool>& side) const {
    return internal::PoolAccess::mapping(*side).At<uint8_t>(block_ + internal::kBlockHeaderBytes);
  }
  const internal::Visibility& VisibilityOf(const std::shared_ptr<Pool>& side) const {
    return internal::PoolAccess::mapping(*side).visibility();
  }

  TestPool test_pool_{NonCoherentPool(), "shadow"};
  std::shared_ptr<Pool> writer_, reader_;
  uint64_t block_ = 0;
  std::unique_ptr<ShadowMemory> shadow_;
};

TEST_F(ShadowMemoryTest, AWrittenBackAndInvalidatedRangeIsClean) {
  std::memset(Payload(writer_), 'x', 300);
  VisibilityOf(writer_).WriteBack(Payload(writer_), 300);
  VisibilityOf(reader_).Invalidate(Payload(reader_), 300);
  EXPECT_TRUE(shadow_->StaleReads().empty());
  EXPECT_TRUE(shadow_->UninvalidatedWriteBacks().empty());
}

TEST_F(ShadowMemoryTest, AStoreAfterTheLastWriteBackIsAStaleRead) {
  std::memset(Payload(writer_), 'x', 300);
  VisibilityOf(writer_).WriteBack(Payload(writer_), 300);
  Payload(writer_)[200] = 'y';
  VisibilityOf(reader_).Invalidate(Payload(reader_), 300);
  ASSERT_EQ(shadow_->StaleReads().size(), 1u);
  EXPECT_NE(shadow_->StaleReads()[0].find("differs at byte 200"), std::string::npos)
      << shadow_->StaleReads()[0];
}

TEST_F(ShadowMemoryTest, AWriteBackNoOtherSideInvalidatedIsReported) {
  std::memset(Payload(writer_), 'x', 100);
  VisibilityOf(writer_).WriteBack(Payload(writer_), 100);
  // The writer's own invalidate does not make the reader's cache fresh.
  VisibilityOf(writer_).Invalidate(Payload(writer_), 100);
  EXPECT_EQ(shadow_->UninvalidatedWriteBacks().size(), 2u) << "100 bytes span two lines";
  VisibilityOf(reader_).Invalidate(Payload(reader_), 64);
  EXPECT_EQ(shadow_->UninvalidatedWriteBacks().size(), 1u);
  VisibilityOf(reader_).Invalidate(Payload(reader_) + 64, 36);
  EXPECT_TRUE(shadow_->UninvalidatedWriteBacks().empty());
}

TEST_F(ShadowMemoryTest, AWordStoredWithoutPublishIsAStaleConsume) {
  auto* word = reinterpret_cast<internal::SharedWord*>(Payload(writer_));
  auto* seen = reinterpret_cast<internal::SharedWord*>(Payload(reader_));
  VisibilityOf(writer_).Publish(word, 7);
  EXPECT_EQ(VisibilityOf(reader_).Consume(seen), 7u);
  EXPECT_TRUE(shadow_->StaleReads().empty());
  word->store(8);
  VisibilityOf(reader_).Consume(seen);
  EXPECT_EQ(shadow_->StaleReads().size(), 1u);
}

}  // namespace
}  // namespace notnets::testing
