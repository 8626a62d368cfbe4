// Shared-memory layouts: sizes and offsets that other processes (and versions) rely on.
#include "pool/layout.h"

#include <cstddef>

#include "channel/connection_layout.h"
#include "channel/descriptor.h"
#include "gtest/gtest.h"
#include "pool/block.h"
#include "pool/directory.h"

namespace notnets::internal {
namespace {

TEST(LayoutTest, StructsHaveTheirDocumentedSizes) {
  EXPECT_EQ(sizeof(Descriptor), 64u);
  EXPECT_EQ(alignof(Descriptor), 64u);
  EXPECT_EQ(sizeof(BlockHeader), 64u);
  EXPECT_EQ(sizeof(DirectionHeader), 128u);
  EXPECT_EQ(sizeof(ConnectionHeader), 128u);
  EXPECT_EQ(sizeof(ServiceEntry), 256u);
  EXPECT_LE(sizeof(PoolHeader), kPoolHeaderBytes);
}

TEST(LayoutTest, ConnectionGeometryKeepsDirectionsApartAndAligned) {
  for (uint32_t capacity = kMinRingCapacity; capacity <= kMaxRingCapacity; capacity *= 2) {
    ConnectionGeometry geometry(capacity);
    EXPECT_EQ(geometry.requests() % kCacheLineBytes, 0u);
    EXPECT_EQ(geometry.cancel_words() % kCacheLineBytes, 0u);
    EXPECT_EQ(geometry.responses() % kCacheLineBytes, 0u);
    EXPECT_EQ(geometry.cancel_words(), geometry.requests() + geometry.ring_bytes());
    EXPECT_GE(geometry.responses(), geometry.cancel_words() + capacity * sizeof(SharedWord));
    EXPECT_EQ(geometry.payload_bytes() + kCacheLineBytes,
              geometry.responses() + geometry.ring_bytes());
  }
}

TEST(LayoutTest, RingCapacityMustBeAPowerOfTwoInRange) {
  EXPECT_TRUE(IsValidRingCapacity(2));
  EXPECT_TRUE(IsValidRingCapacity(4096));
  EXPECT_FALSE(IsValidRingCapacity(0));
  EXPECT_FALSE(IsValidRingCapacity(1));
  EXPECT_FALSE(IsValidRingCapacity(3));
  EXPECT_FALSE(IsValidRingCapacity(8192));
}

TEST(LayoutTest, SizeClassesCoverPayloadPlusHeader) {
  EXPECT_EQ(SizeClassFor(0), kMinBlockShift);
  EXPECT_EQ(SizeClassFor(256 - kBlockHeaderBytes), 8u);
  EXPECT_EQ(SizeClassFor(256 - kBlockHeaderBytes + 1), 9u);
  EXPECT_EQ(SizeClassFor((1u << 20) - kBlockHeaderBytes), 20u);
  EXPECT_EQ(SizeClassFor(1ull << 40), 0u);
}

}  // namespace
}  // namespace notnets::internal
