// A process killed (kill -9) inside Allocator::Allocate, after it took a block and before the
// block names an owner (docs/crash-matrix.md, "Inside Allocator::Allocate"): the heap stays one
// walkable sequence of blocks, which heap walks (usage, the reclaim of dead owners' blocks)
// neither stop at nor step over live blocks inside, and the live server's sweep puts what the
// dead process took back on the free lists: every free byte can be allocated again.
#include <signal.h>
#include <sys/wait.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pool/allocator.h"
#include "pool/pool_access.h"
#include "pool/pool_mapping.h"
#include "process_harness.h"

namespace notnets::process_test {
namespace {

using internal::Allocator;
using internal::BlockBytes;
using internal::HeapUsage;
using internal::PoolAccess;
using internal::SizeClassFor;

class AllocatorCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NOTNETS_SKIP_WITHOUT_CRASH_POINTS();
    PoolOptions options;
    options.size_bytes = 8 << 20;
    ASSERT_TRUE(Pool::Create(pool_name_, options, &pool_).ok());
    allocator_ = std::make_unique<Allocator>(&PoolAccess::mapping(*pool_));
  }
  void TearDown() override {
    allocator_.reset();
    pool_.reset();
    Pool::Remove(pool_name_);
  }

  // A client that dies at `point` on its way to its first call.
  void ClientDiesAt(const std::string& point) {
    PeerProcess client({"call", pool_name_, "Echo", "never sent"}, {"NOTNETS_CRASH_AT=" + point});
    std::optional<int> status = client.Wait(kHangBound);
    ASSERT_TRUE(status.has_value()) << point << ": the client did not die";
    ASSERT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
        << point << ": wait status " << *status << ", output: " << client.output();
  }

  // Allocates blocks of `payload` bytes until the pool has none left; returns how many.
  uint64_t HoldAll(uint64_t payload) {
    uint64_t count = 0;
    uint64_t offset;
    while (allocator_->Allocate(payload, kTestOwner, &offset).ok()) {
      held_.push_back(offset);
      ++count;
    }
    return count;
  }

  // Allocates every block the pool can still give, of every class, largest first.
  void HoldEverything() {
    for (uint32_t size_class = internal::kMaxBlockShift; size_class >= internal::kMinBlockShift;
         --size_class) {
      HoldAll(BlockBytes(size_class) - internal::kBlockHeaderBytes);
    }
  }

  // True once this process holds every free byte of the heap: the server's sweep (every second)
  // put back what the dead process had taken. A bound for "never" only.
  bool EveryFreeByteComesBack() {
    auto give_up = Clock::now() + kHangBound;
    while (true) {
      HoldEverything();
      if (allocator_->Usage().free_bytes == 0) return true;
      if (Clock::now() > give_up) return false;
      std::this_thread::sleep_for(milliseconds(50));
    }
  }

  // The walk reached the heap's top, and its used and free bytes make up the whole heap.
  void ExpectWalkable(const HeapUsage& usage) {
    EXPECT_TRUE(usage.consistent);
    EXPECT_EQ(usage.used_bytes + usage.free_bytes, pool_->Stats().heap_bytes);
  }

  static constexpr uint64_t kTestOwner = 77;
  std::string pool_name_ = UniquePoolName();
  std::shared_ptr<Pool> pool_;
  std::unique_ptr<Allocator> allocator_;
  std::vector<uint64_t> held_;
};

TEST_F(AllocatorCrashTest, ABlockCarvedByAProcessKilledBeforeItsOwnerIsSteppedOverByWalks) {
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 1);
  ClientDiesAt("allocator.after_carve");
  ExpectWalkable(allocator_->Usage());

  // The next connection is carved past the dead client's block (whose top it moves past, if the
  // client died before it did), and the pool serves it.
  std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
  ASSERT_NE(channel, nullptr);
  ClientContext context;
  context.set_timeout(kHangBound);
  std::string response;
  Status status = channel->Call("Echo", "after the crash", &response, &context);
  EXPECT_TRUE(status.ok()) << status.ToString();
  ExpectWalkable(allocator_->Usage());
  EXPECT_TRUE(EveryFreeByteComesBack())
      << allocator_->Usage().free_bytes << " free bytes cannot be allocated";
  ExpectWalkable(allocator_->Usage());
  channel.reset();
  StopServer(server.get());
}

TEST_F(AllocatorCrashTest, ABlockSplitByAProcessKilledBeforeItsOwnerHidesNoLiveBlock) {
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 1);
  // A full heap with one free large block: the client's connection block can only come from
  // splitting it.
  const uint64_t large = 256 << 10;
  ASSERT_GT(HoldAll(large), 0);
  for (uint64_t payload = large / 2; payload >= 64; payload /= 2) HoldAll(payload);
  HoldAll(0);
  const uint64_t split = held_.front();
  held_.erase(held_.begin());
  allocator_->Free(split);
  const uint64_t used_before = allocator_->Usage().used_bytes;

  ClientDiesAt("allocator.after_split");
  // Whatever can be allocated is counted in use once held: no block a walk takes for free holds
  // a live one.
  uint64_t newly_held = 0;
  for (uint64_t payload = large; payload >= 64; payload /= 2) {
    newly_held += HoldAll(payload) * BlockBytes(SizeClassFor(payload));
  }
  newly_held += HoldAll(0) * BlockBytes(SizeClassFor(0));
  HeapUsage after = allocator_->Usage();
  ExpectWalkable(after);
  EXPECT_EQ(after.used_bytes, used_before + newly_held);
  EXPECT_TRUE(EveryFreeByteComesBack())
      << allocator_->Usage().free_bytes << " free bytes cannot be allocated";
  ExpectWalkable(allocator_->Usage());
  StopServer(server.get());
}

}  // namespace
}  // namespace notnets::process_test
