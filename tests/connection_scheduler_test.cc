// The server's connection scheduler: slots are reused lowest first, the hot set is exactly what
// was set hot (across summary words), and every connection gets its turn.
#include "rpc/connection_scheduler.h"

#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace notnets::internal {
namespace {

struct FakeConnection {
  uint32_t id;
};

// Two summary words: slots above 4096 are in the second.
using Scheduler = ConnectionScheduler<FakeConnection, 8192>;

std::set<uint32_t> HotSlots(Scheduler* scheduler) {
  std::set<uint32_t> hot;
  scheduler->ForEachHot(scheduler->used(), [&](uint32_t slot, FakeConnection* connection) {
    EXPECT_EQ(connection->id, slot);
    hot.insert(slot);
    return false;
  });
  return hot;
}

TEST(ConnectionSchedulerTest, FillsTheLowestFreeSlotAndGrowsUsedOnlyAtTheEnd) {
  auto scheduler = std::make_unique<Scheduler>();
  FakeConnection connections[3] = {{0}, {1}, {2}};
  for (FakeConnection& connection : connections) {
    uint32_t slot = scheduler->FreeSlot();
    EXPECT_EQ(slot, connection.id);
    scheduler->Insert(slot, &connection);
  }
  EXPECT_EQ(scheduler->used(), 3u);
  scheduler->Remove(1);
  EXPECT_EQ(scheduler->At(1), nullptr);
  EXPECT_EQ(scheduler->FreeSlot(), 1u);
  scheduler->Insert(1, &connections[1]);
  EXPECT_EQ(scheduler->used(), 3u);
  EXPECT_EQ(scheduler->At(1), &connections[1]);
}

TEST(ConnectionSchedulerTest, TheHotSetIsWhatWasSetHotAcrossSummaryWords) {
  auto scheduler = std::make_unique<Scheduler>();
  std::vector<FakeConnection> connections(8192);
  for (uint32_t i = 0; i < connections.size(); ++i) {
    connections[i].id = i;
    scheduler->Insert(scheduler->FreeSlot(), &connections[i]);
  }
  EXPECT_EQ(HotSlots(scheduler.get()).size(), 8192u);  // new connections are hot
  for (uint32_t i = 0; i < connections.size(); ++i) scheduler->SetHot(i, false);
  EXPECT_TRUE(HotSlots(scheduler.get()).empty());
  std::set<uint32_t> expected = {0, 63, 64, 4095, 4096, 8191};
  for (uint32_t slot : expected) scheduler->SetHot(slot, true);
  for (uint32_t slot = 0; slot < 8192; ++slot) {
    EXPECT_EQ(scheduler->IsHot(slot), expected.count(slot) == 1) << slot;
  }
  EXPECT_EQ(HotSlots(scheduler.get()), expected);
  scheduler->Remove(4096);
  expected.erase(4096);
  EXPECT_EQ(HotSlots(scheduler.get()), expected);
}

TEST(ConnectionSchedulerTest, ForEachHotSaysWhetherAPollWorked) {
  auto scheduler = std::make_unique<Scheduler>();
  FakeConnection connections[2] = {{0}, {1}};
  for (FakeConnection& connection : connections) scheduler->Insert(connection.id, &connection);
  EXPECT_FALSE(scheduler->ForEachHot(2, [](uint32_t, FakeConnection*) { return false; }));
  EXPECT_TRUE(scheduler->ForEachHot(2, [](uint32_t slot, FakeConnection*) { return slot == 1; }));
}

TEST(ConnectionSchedulerTest, EveryConnectionGetsItsTurn) {
  auto scheduler = std::make_unique<Scheduler>();
  std::set<uint32_t> turns;
  for (int i = 0; i < 5; ++i) turns.insert(scheduler->NextTurn(5));
  EXPECT_EQ(turns, (std::set<uint32_t>{0, 1, 2, 3, 4}));
}

TEST(ConnectionSchedulerTest, SlotsTurningHotAndColdAtOnceKeepTheirBits) {
  // Threads flip neighbouring slots of one word (and so its summary bit); each ends hot.
  auto scheduler = std::make_unique<Scheduler>();
  std::vector<FakeConnection> connections(4);
  for (uint32_t i = 0; i < 4; ++i) {
    connections[i].id = i;
    scheduler->Insert(i, &connections[i]);
  }
  std::vector<std::thread> threads;
  for (uint32_t slot = 0; slot < 4; ++slot) {
    threads.emplace_back([&scheduler, slot] {
      for (int i = 0; i < 20000; ++i) {
        scheduler->SetHot(slot, false);
        scheduler->SetHot(slot, true);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(HotSlots(scheduler.get()), (std::set<uint32_t>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace notnets::internal
