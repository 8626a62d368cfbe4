// The client's call slots: every slot is handed out once until released, a released slot names
// a new call, and the free stack survives threads racing for it.
#include "rpc/call_slot_table.h"

#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace notnets::internal {
namespace {

TEST(CallSlotTableTest, HandsOutEverySlotOnceThenNone) {
  CallSlotTable slots(8);
  std::set<uint32_t> taken;
  for (int i = 0; i < 8; ++i) {
    uint32_t index = slots.Acquire();
    ASSERT_LT(index, 8u);
    EXPECT_TRUE(taken.insert(index).second) << "slot " << index << " handed out twice";
    EXPECT_EQ(slots[index].state.load(), kFree);
  }
  EXPECT_EQ(slots.Acquire(), slots.capacity());
  slots.Release(5);
  EXPECT_EQ(slots.Acquire(), 5u);
}

TEST(CallSlotTableTest, AReleasedSlotNamesANewCallAndNeverGenerationZero) {
  CallSlotTable slots(2);
  uint32_t index = slots.Acquire();
  uint64_t first = slots.CallId(index);
  EXPECT_EQ(static_cast<uint32_t>(first), index);
  EXPECT_NE(first >> 32, 0u);
  slots[index].state.store(kCompleted);
  slots.Release(index);
  EXPECT_EQ(slots[index].state.load(), kFree);
  EXPECT_NE(slots.CallId(index), first);
  // The generation wraps past zero.
  slots[index].generation.store(~uint32_t{0});
  slots.Retire(index);
  EXPECT_EQ(slots[index].generation.load(), 1u);
}

TEST(CallSlotTableTest, RetiredSlotsComeBackOnlyWhenPushedInTheOrderGiven) {
  CallSlotTable slots(4);
  uint32_t taken[4];
  for (uint32_t& index : taken) index = slots.Acquire();
  slots.Retire(taken[2]);
  slots.Retire(taken[0]);
  EXPECT_EQ(slots.Acquire(), slots.capacity());
  uint32_t order[2] = {taken[2], taken[0]};
  slots.PushFree(order, 2);
  EXPECT_EQ(slots.Acquire(), taken[2]);
  EXPECT_EQ(slots.Acquire(), taken[0]);
  EXPECT_EQ(slots.Acquire(), slots.capacity());
}

TEST(CallSlotTableTest, ThreadsNeverHoldOneSlotAtOnce) {
  constexpr uint32_t kSlots = 16;
  constexpr int kThreads = 4;
  constexpr int kRounds = 20000;
  CallSlotTable slots(kSlots);
  std::atomic<uint32_t> holders[kSlots] = {};
  std::atomic<int> overlaps{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < kRounds; ++round) {
        uint32_t index = slots.Acquire();
        if (index == kSlots) continue;
        if (holders[index].fetch_add(1) != 0) overlaps.fetch_add(1);
        holders[index].fetch_sub(1);
        slots.Release(index);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(overlaps.load(), 0);
  std::set<uint32_t> all;
  for (uint32_t i = 0; i < kSlots; ++i) all.insert(slots.Acquire());
  EXPECT_EQ(all.size(), kSlots);
  EXPECT_EQ(all.count(kSlots), 0u);
}

}  // namespace
}  // namespace notnets::internal
