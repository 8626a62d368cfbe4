// The at-most-once window: a token runs once; its result answers every retry; a call started by a
// dead server is never run again; finished calls make room for new ones.
#include "pool/pool_access.h"
#include "pool/call_window.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pool/allocator.h"
#include "pool/pool_mapping.h"
#include "pool/process_identity.h"
#include "test_pool.h"

namespace notnets::internal {
namespace {

using notnets::testing::TestPool;
using Entry = CallWindow::Entry;

// As many slots as a token probes: every token may use every slot, so the window fills up at
// exactly this many running calls.
constexpr uint32_t kSlots = 8;

PoolOptions SmallPool(uint32_t window_slots) {
  PoolOptions options;
  options.size_bytes = 4 << 20;
  options.max_services = 4;
  options.call_window_slots = window_slots;
  return options;
}

class CallWindowTest : public ::testing::Test {
 protected:
  explicit CallWindowTest(uint32_t window_slots = kSlots)
      : test_pool_(SmallPool(window_slots), "window"),
        mapping_(&PoolAccess::mapping(*test_pool_.pool())),
        allocator_(mapping_),
        window_(mapping_, &allocator_) {}

  CallWindowSlot* SlotOf(uint32_t index) const {
    return mapping_->At<CallWindowSlot>(mapping_->call_window_offset() +
                                        uint64_t{index} * sizeof(CallWindowSlot));
  }

  uint64_t HeapUsed() const { return allocator_.Usage().used_bytes; }

  TestPool test_pool_;
  PoolMapping* mapping_;
  Allocator allocator_;
  CallWindow window_;
};

TEST_F(CallWindowTest, ATokenRunsOnceAndItsResultAnswersEveryRetry) {
  ASSERT_TRUE(window_.enabled());
  Entry first = window_.Begin(0x1234);
  ASSERT_EQ(first.kind, Entry::kFresh);
  ASSERT_LT(first.slot, kSlots);

  // A retry while the first attempt runs in this (live) process.
  Entry retry = window_.Begin(0x1234);
  EXPECT_EQ(retry.kind, Entry::kRunning);
  EXPECT_EQ(retry.pid, SelfIdentity().pid);

  window_.Finish(first.slot, 0x1234, StatusCode::NOT_FOUND, "no such key");
  for (int attempt = 0; attempt < 3; ++attempt) {
    Entry done = window_.Begin(0x1234);
    EXPECT_EQ(done.kind, Entry::kDone) << attempt;
    EXPECT_EQ(done.code, StatusCode::NOT_FOUND);
    EXPECT_EQ(done.response, "no such key");
  }
  // Another token is unknown.
  EXPECT_EQ(window_.Begin(0x5678).kind, Entry::kFresh);
}

TEST_F(CallWindowTest, AResponseOverTheInlineBytesIsKeptInABlockAndFreedOnEviction) {
  uint64_t before = HeapUsed();
  std::string large(1000, 'x');
  large[999] = 'y';
  Entry first = window_.Begin(1);
  ASSERT_EQ(first.kind, Entry::kFresh);
  window_.Finish(first.slot, 1, StatusCode::OK, large);
  EXPECT_GT(HeapUsed(), before);
  Entry done = window_.Begin(1);
  ASSERT_EQ(done.kind, Entry::kDone);
  EXPECT_EQ(done.response, large);

  // Fill every slot with running calls: the finished one is evicted, and its block freed.
  for (uint64_t token = 2; token < 2 + kSlots; ++token) {
    EXPECT_EQ(window_.Begin(token).kind, Entry::kFresh) << token;
  }
  EXPECT_EQ(HeapUsed(), before);
  // Evicted means forgotten: the token would run again.
  EXPECT_EQ(window_.Begin(1).kind, Entry::kFull);
}

// A finished call is forgotten only when its token's every probed slot is taken: the window keeps
// as many finished calls as it has slots, whichever slots their tokens hash to.
TEST_F(CallWindowTest, FinishedCallsAreKeptUntilEverySlotIsTaken) {
  // Spread over 64 bits as random tokens are, so that some of them hash to the same slot.
  auto token_of = [](uint64_t i) { return i * 0x9e3779b97f4a7c15ull; };
  for (uint64_t i = 1; i <= kSlots; ++i) {
    Entry fresh = window_.Begin(token_of(i));
    ASSERT_EQ(fresh.kind, Entry::kFresh) << i;
    window_.Finish(fresh.slot, token_of(i), StatusCode::OK, std::to_string(i));
  }
  for (uint64_t i = 1; i <= kSlots; ++i) {
    Entry done = window_.Begin(token_of(i));
    EXPECT_EQ(done.kind, Entry::kDone) << i;
    EXPECT_EQ(done.response, std::to_string(i));
  }
}

TEST_F(CallWindowTest, AWindowFullOfRunningCallsRefusesAndFinishedOnesMakeRoom) {
  std::vector<Entry> running;
  for (uint64_t token = 100; token < 100 + kSlots; ++token) {
    running.push_back(window_.Begin(token));
    ASSERT_EQ(running.back().kind, Entry::kFresh) << token;
  }
  EXPECT_EQ(window_.Begin(999).kind, Entry::kFull);
  // Still known: a full window does not forget what runs.
  EXPECT_EQ(window_.Begin(100 + 3).kind, Entry::kRunning);

  window_.Finish(running[3].slot, 100 + 3, StatusCode::OK, "done");
  Entry fresh = window_.Begin(999);
  ASSERT_EQ(fresh.kind, Entry::kFresh);
  EXPECT_EQ(fresh.slot, running[3].slot);
}

// A server that died while running the call: the retry must not run it (it may have run).
TEST_F(CallWindowTest, ACallStartedByADeadServerIsInterrupted) {
  Entry first = window_.Begin(42);
  ASSERT_EQ(first.kind, Entry::kFresh);
  // A token no live process holds: the runner is dead.
  SlotOf(first.slot)->runner_token.fetch_add(1);
  EXPECT_EQ(window_.Begin(42).kind, Entry::kInterrupted);
  EXPECT_EQ(window_.Begin(42).kind, Entry::kInterrupted);
}

// The slot of a dead server's running call may be taken by a new token, and the dead server's
// late Finish (here: any Finish for a token no longer in the slot) must not overwrite it.
TEST_F(CallWindowTest, AFinishForAnEvictedTokenChangesNothing) {
  std::vector<Entry> running;
  for (uint64_t token = 10; token < 10 + kSlots; ++token) {
    running.push_back(window_.Begin(token));
    ASSERT_EQ(running.back().kind, Entry::kFresh);
  }
  SlotOf(running[0].slot)->runner_token.fetch_add(1);  // its runner "died"
  Entry taker = window_.Begin(77);
  ASSERT_EQ(taker.kind, Entry::kFresh);
  ASSERT_EQ(taker.slot, running[0].slot);

  window_.Finish(running[0].slot, 10, StatusCode::OK, "late");
  EXPECT_EQ(window_.Begin(77).kind, Entry::kRunning);
  window_.Finish(taker.slot, 77, StatusCode::OK, "mine");
  Entry done = window_.Begin(77);
  ASSERT_EQ(done.kind, Entry::kDone);
  EXPECT_EQ(done.response, "mine");
}

// A result that could not be kept (no pool memory for it) makes a retry ABORTED-worthy, never a
// second run and never a wrong answer.
TEST_F(CallWindowTest, AResultThatCouldNotBeKeptIsInterrupted) {
  Entry first = window_.Begin(5);
  ASSERT_EQ(first.kind, Entry::kFresh);
  std::vector<uint64_t> blocks;
  for (uint64_t block; allocator_.Allocate(1 << 16, 9, &block).ok();) blocks.push_back(block);
  for (uint64_t block; allocator_.Allocate(200, 9, &block).ok();) blocks.push_back(block);
  window_.Finish(first.slot, 5, StatusCode::OK, std::string(100000, 'r'));
  EXPECT_EQ(window_.Begin(5).kind, Entry::kInterrupted);
  for (uint64_t block : blocks) allocator_.Free(block);
}

class DisabledCallWindowTest : public CallWindowTest {
 protected:
  DisabledCallWindowTest() : CallWindowTest(0) {}
};

TEST_F(DisabledCallWindowTest, APoolWithoutSlotsHasNoWindow) { EXPECT_FALSE(window_.enabled()); }

}  // namespace
}  // namespace notnets::internal
