// A sender's arena allocator and the released list through which its receiver gives blocks back,
// including a receiver that releases offsets it was never given, or releases one twice.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "channel/arena_allocator.h"
#include "channel/direction_arena.h"
#include "channel/released_list.h"
#include "gtest/gtest.h"
#include "pool/shared_memory.h"
#include "pool/visibility_recorder.h"
#include "test_pool.h"

namespace notnets::internal {
namespace {

using Result = ArenaAllocator::Result;

ArenaAllocator Unbacked(uint64_t bytes) {
  return ArenaAllocator(bytes, [](uint64_t, uint64_t) { return true; });
}

TEST(ArenaAllocatorTest, HandsOutDisjointAlignedBlocksAndReusesFreedOnes) {
  ArenaAllocator arena = Unbacked(1 << 16);
  std::vector<std::pair<uint64_t, uint64_t>> blocks;
  for (uint64_t bytes : {1, 64, 65, 100, 1000, 4096, 5000}) {
    uint64_t offset;
    uint64_t capacity;
    ASSERT_EQ(arena.Allocate(bytes, &offset, &capacity), Result::kOk) << bytes;
    EXPECT_GE(capacity, bytes);
    EXPECT_EQ(offset % 64, 0u);
    EXPECT_EQ(arena.CapacityOf(offset), capacity);
    for (auto [other, other_capacity] : blocks) {
      EXPECT_TRUE(offset + capacity <= other || other + other_capacity <= offset);
    }
    blocks.emplace_back(offset, capacity);
  }
  EXPECT_EQ(arena.outstanding(), blocks.size());
  uint64_t made_real = arena.made_real();
  ASSERT_TRUE(arena.Free(blocks[4].first));
  EXPECT_EQ(arena.CapacityOf(blocks[4].first), 0u);
  uint64_t offset;
  uint64_t capacity;
  ASSERT_EQ(arena.Allocate(900, &offset, &capacity), Result::kOk);
  EXPECT_EQ(offset, blocks[4].first);
  EXPECT_EQ(arena.made_real(), made_real);
}

TEST(ArenaAllocatorTest, RefusesWhatCannotFitAndComesBackWhenFreed) {
  ArenaAllocator arena = Unbacked(4096);
  uint64_t offset;
  uint64_t capacity;
  EXPECT_EQ(arena.Allocate(4097, &offset, &capacity), Result::kTooLarge);
  std::vector<uint64_t> offsets;
  while (arena.Allocate(1024, &offset, &capacity) == Result::kOk) offsets.push_back(offset);
  EXPECT_EQ(offsets.size(), 4u);
  EXPECT_EQ(arena.Allocate(64, &offset, &capacity), Result::kFull);
  ASSERT_TRUE(arena.Free(offsets[2]));
  // A smaller message takes a larger free block whole rather than fail.
  ASSERT_EQ(arena.Allocate(64, &offset, &capacity), Result::kOk);
  EXPECT_EQ(offset, offsets[2]);
  EXPECT_EQ(capacity, 1024u);
}

TEST(ArenaAllocatorTest, MakesOnlyNewBytesRealAndFailsWhenItCannot) {
  std::vector<std::pair<uint64_t, uint64_t>> backed;
  bool refuse = false;
  ArenaAllocator arena(1 << 16, [&](uint64_t from, uint64_t to) {
    if (refuse) return false;
    backed.emplace_back(from, to);
    return true;
  });
  uint64_t offset;
  uint64_t capacity;
  ASSERT_EQ(arena.Allocate(100, &offset, &capacity), Result::kOk);
  ASSERT_EQ(arena.Allocate(100, &offset, &capacity), Result::kOk);
  ASSERT_EQ(backed.size(), 2u);
  EXPECT_EQ(backed[0], std::make_pair(uint64_t{0}, uint64_t{128}));
  EXPECT_EQ(backed[1], std::make_pair(uint64_t{128}, uint64_t{256}));
  ASSERT_TRUE(arena.Free(offset));
  ASSERT_EQ(arena.Allocate(128, &offset, &capacity), Result::kOk);
  EXPECT_EQ(backed.size(), 2u);  // reused: nothing new to make real
  refuse = true;
  EXPECT_EQ(arena.Allocate(100, &offset, &capacity), Result::kNotBacked);
  EXPECT_EQ(arena.made_real(), 256u);
  refuse = false;
  ASSERT_EQ(arena.Allocate(100, &offset, &capacity), Result::kOk);
  EXPECT_EQ(offset, 256u);
}

TEST(ArenaAllocatorTest, FreeIgnoresOffsetsItDidNotHandOut) {
  ArenaAllocator arena = Unbacked(1 << 16);
  uint64_t offset;
  uint64_t capacity;
  ASSERT_EQ(arena.Allocate(256, &offset, &capacity), Result::kOk);
  EXPECT_FALSE(arena.Free(offset + 64));  // inside a block
  EXPECT_FALSE(arena.Free(1 << 20));      // past the arena
  EXPECT_FALSE(arena.Free(~uint64_t{0}));
  EXPECT_TRUE(arena.Free(offset));
  EXPECT_FALSE(arena.Free(offset));  // twice
  EXPECT_EQ(arena.outstanding(), 0u);
}

// Both halves of one released list: the receiver's segment (entries and count) and the sender's
// consumed count, as plain memory.
class ReleasedListTest : public ::testing::TestWithParam<CoherenceMode> {
 protected:
  static constexpr uint64_t kCapacity = 4;
  static constexpr size_t kMaxWaiting = 3;
  ReleasedListTest()
      : visibility_(GetParam()),
        entries_(new SharedWord[kCapacity]{}),
        writer_(entries_.get(), kCapacity, &count_, &consumed_, &visibility_, kMaxWaiting),
        reader_(entries_.get(), kCapacity, &count_, &consumed_, &visibility_) {}

  std::vector<uint64_t> Take() {
    std::vector<uint64_t> offsets;
    EXPECT_TRUE(reader_.Take(&offsets));
    return offsets;
  }

  Visibility visibility_;
  std::unique_ptr<SharedWord[]> entries_;
  SharedWord count_{0};
  SharedWord consumed_{0};
  ReleasedListWriter writer_;
  ReleasedListReader reader_;
};

TEST_P(ReleasedListTest, OffsetsComeBackInOrderAcrossTheRingsEnd) {
  uint64_t next = 64;
  std::vector<uint64_t> expected;
  for (int round = 0; round < 5; ++round) {
    expected.clear();
    for (uint64_t i = 0; i < 3; ++i, next += 64) {
      writer_.Release(next);
      expected.push_back(next);
    }
    EXPECT_EQ(Take(), expected);
    EXPECT_EQ(Take(), std::vector<uint64_t>{});
  }
  EXPECT_EQ(count_.load(), 15u);
  EXPECT_EQ(consumed_.load(), 15u);
}

TEST_P(ReleasedListTest, AFullListKeepsOffsetsUntilTheSenderTakesSome) {
  for (uint64_t i = 1; i <= 6; ++i) writer_.Release(i * 64);
  EXPECT_EQ(writer_.waiting(), 2u);
  EXPECT_EQ(Take(), (std::vector<uint64_t>{64, 128, 192, 256}));
  EXPECT_EQ(writer_.Flush(), 0u);
  EXPECT_EQ(Take(), (std::vector<uint64_t>{320, 384}));
}

// A sender that never takes its blocks back costs its receiver a bounded number of offsets.
TEST_P(ReleasedListTest, AReceiverKeepsAtMostMaxWaitingOffsets) {
  for (uint64_t i = 1; i <= 10; ++i) writer_.Release(i * 64);
  EXPECT_EQ(writer_.waiting(), kMaxWaiting);
  EXPECT_EQ(Take(), (std::vector<uint64_t>{64, 128, 192, 256}));
  EXPECT_EQ(writer_.Flush(), 0u);
  EXPECT_EQ(Take(), (std::vector<uint64_t>{320, 384, 448}));
}

TEST_P(ReleasedListTest, ASenderRefusesCountsTheReceiverCannotHaveWritten) {
  writer_.Release(64);
  ASSERT_EQ(Take(), std::vector<uint64_t>{64});
  std::vector<uint64_t> offsets;
  count_.store(0);  // behind what was taken
  EXPECT_FALSE(reader_.Take(&offsets));
  count_.store(1 + kCapacity + 1);  // more than the list holds
  EXPECT_FALSE(reader_.Take(&offsets));
  EXPECT_TRUE(offsets.empty());
  EXPECT_EQ(consumed_.load(), 1u);
}

TEST_P(ReleasedListTest, AReceiverStopsAppendingForASenderThatLies) {
  consumed_.store(7);  // more taken than was ever appended
  writer_.Release(64);
  EXPECT_EQ(writer_.waiting(), 1u);
  EXPECT_EQ(count_.load(), 0u);
}

// A hostile receiver writes its own released list: duplicates, offsets inside blocks, past the
// arena. The sender frees only blocks it handed out, once each, and its later blocks never
// overlap one still in use.
TEST_P(ReleasedListTest, BogusOrDuplicateReleasesDoNotDisturbTheSender) {
  ArenaAllocator arena = Unbacked(1 << 12);
  uint64_t kept;
  uint64_t released;
  uint64_t capacity;
  ASSERT_EQ(arena.Allocate(1024, &kept, &capacity), Result::kOk);
  ASSERT_EQ(arena.Allocate(1024, &released, &capacity), Result::kOk);
  for (uint64_t offset : {released, released, kept + 64, uint64_t{1} << 40}) {
    writer_.Release(offset);
  }
  int freed = 0;
  for (uint64_t offset : Take()) freed += arena.Free(offset) ? 1 : 0;
  EXPECT_EQ(freed, 1);
  EXPECT_EQ(arena.CapacityOf(kept), 1024u);
  std::set<uint64_t> handed_out = {kept};
  uint64_t offset;
  while (arena.Allocate(1024, &offset, &capacity) == Result::kOk) {
    EXPECT_TRUE(handed_out.insert(offset).second) << offset << " handed out twice";
  }
  EXPECT_EQ(handed_out.size(), 4u);
}

// Stands in for the primitives of memory without coherence and logs them, in order: what a host
// without coherence would need to have happened before each count is read.
class LoggingRecorder : public VisibilityRecorder {
 public:
  enum class Kind : uint8_t { kPublish, kConsume, kWriteBack, kInvalidate };
  struct Event {
    Kind kind;
    uintptr_t begin;
    uintptr_t end;
  };

  void Publish(SharedWord* word, uint64_t value) override {
    word->store(value, std::memory_order_release);
    Log(Kind::kPublish, word, sizeof(*word));
  }
  uint64_t Consume(const SharedWord* word) override {
    Log(Kind::kConsume, word, sizeof(*word));
    return word->load(std::memory_order_acquire);
  }
  void WriteBack(const void* data, size_t size) override { Log(Kind::kWriteBack, data, size); }
  void Invalidate(const void* data, size_t size) override { Log(Kind::kInvalidate, data, size); }

  // The position of the first event of `kind` on `word` at or after `from`; events.size() if
  // none.
  size_t Find(Kind kind, const SharedWord* word, size_t from) const {
    for (size_t i = from; i < events.size(); ++i) {
      if (events[i].kind == kind && events[i].begin == reinterpret_cast<uintptr_t>(word)) return i;
    }
    return events.size();
  }
  // Whether an event of `kind` in [from, to) covers `word`.
  bool Covers(Kind kind, const SharedWord* word, size_t from, size_t to) const {
    auto address = reinterpret_cast<uintptr_t>(word);
    for (size_t i = from; i < to && i < events.size(); ++i) {
      if (events[i].kind == kind && events[i].begin <= address &&
          address + sizeof(*word) <= events[i].end) {
        return true;
      }
    }
    return false;
  }

  std::vector<Event> events;

 private:
  void Log(Kind kind, const void* data, size_t size) {
    auto begin = reinterpret_cast<uintptr_t>(data);
    events.push_back(Event{kind, begin, begin + size});
  }
};

// Without coherence, a receiver must write back the entries it appends before it publishes their
// count, and a sender must consume the count, then invalidate the entries before it reads them,
// then publish what it took; across the ring's end too.
TEST(ReleasedListVisibilityTest, EntriesAreWrittenBackBeforeTheirCountAndInvalidatedAfter) {
  // Never freed: a process may use the recorder until it is cleared.
  static auto* const recorder = new LoggingRecorder;
  if (!SetVisibilityRecorder(recorder)) {
    GTEST_SKIP() << "the library was built without its test hooks (NOTNETS_FAULT_INJECTION)";
  }
  constexpr uint64_t kCapacity = 4;
  Visibility visibility(CoherenceMode::kWriteBackInvalidate);
  std::unique_ptr<SharedWord[]> entries(new SharedWord[kCapacity]{});
  SharedWord count{0};
  SharedWord consumed{0};
  ReleasedListWriter writer(entries.get(), kCapacity, &count, &consumed, &visibility, 16);
  ReleasedListReader reader(entries.get(), kCapacity, &count, &consumed, &visibility);
  using Kind = LoggingRecorder::Kind;
  // Runs `append`, which must publish the count once, and checks the entries it appended.
  auto expect_appended = [&](const std::function<void()>& append, std::vector<uint64_t> indexes) {
    size_t start = recorder->events.size();
    append();
    size_t consumed_at = recorder->Find(Kind::kConsume, &consumed, start);
    size_t published = recorder->Find(Kind::kPublish, &count, start);
    EXPECT_LT(consumed_at, published) << "the receiver appended without reading what was taken";
    ASSERT_LT(published, recorder->events.size()) << "the count was not published";
    for (uint64_t index : indexes) {
      EXPECT_TRUE(recorder->Covers(Kind::kWriteBack, &entries[index], start, published))
          << "entry " << index << " not written back before its count";
    }
  };
  auto expect_taken = [&](std::vector<uint64_t> indexes) {
    size_t start = recorder->events.size();
    std::vector<uint64_t> offsets;
    ASSERT_TRUE(reader.Take(&offsets));
    size_t read = recorder->Find(Kind::kConsume, &count, start);
    size_t taken = recorder->Find(Kind::kPublish, &consumed, start);
    ASSERT_LT(read, recorder->events.size()) << "the count was not consumed";
    EXPECT_LT(read, taken);
    EXPECT_LT(taken, recorder->events.size()) << "what was taken was not published";
    ASSERT_EQ(offsets.size(), indexes.size());
    for (size_t i = 0; i < indexes.size(); ++i) {
      EXPECT_EQ(offsets[i], entries[indexes[i]].load());
      EXPECT_TRUE(recorder->Covers(Kind::kInvalidate, &entries[indexes[i]], read, taken))
          << "entry " << indexes[i] << " read without invalidating it";
    }
  };
  uint64_t next = 64;
  auto release = [&] { writer.Release(next += 64); };
  for (uint64_t index : {0, 1, 2}) expect_appended(release, {index});
  expect_taken({0, 1, 2});
  for (uint64_t index : {3, 0, 1, 2}) expect_appended(release, {index});
  release();
  release();
  EXPECT_EQ(writer.waiting(), 2u);
  expect_taken({3, 0, 1, 2});  // the reader across the ring's end
  // The writer across the ring's end, in one flush.
  expect_appended([&] { EXPECT_EQ(writer.Flush(), 0u); }, {3, 0});
  expect_taken({3, 0});
  SetVisibilityRecorder(nullptr);
}

// A direction as both parties map it: the sender's segment (arena after `kArenaOffset` bytes of
// rings) written here and mapped read-only by the receiver, and the released list with its counts
// (which live in the two segments' headers) as plain memory.
class DirectionArenaTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kArenaOffset = 4096;
  static constexpr uint64_t kArenaBytes = 1 << 20;
  static constexpr uint64_t kListCapacity = 8;

  void SetUp() override {
    std::string pool = Pool::PathFor(testing::UniquePoolName("arena"));
    std::unique_ptr<Segment> own;
    Status created = Segment::CreateSparse(pool, "", kArenaOffset, kArenaOffset + kArenaBytes,
                                           ::geteuid(), &own);
    ASSERT_TRUE(created.ok()) << created.ToString();
    std::unique_ptr<Segment> peer;
    Status opened =
        Segment::Open(pool, own->name(), kArenaOffset + kArenaBytes, &peer, kArenaOffset);
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    own->Unlink();
    peer_ = std::move(peer);
    sender_ = std::make_unique<SenderArena>(
        ArenaPlace{std::move(own), kArenaOffset, kArenaBytes}, entries_.get(), kListCapacity,
        &count_, &taken_, &visibility_,
        [this](uint64_t bytes) {
          charged_ += bytes;
          return charged_ <= quota_ ? Status::OK
                                    : Status(StatusCode::RESOURCE_EXHAUSTED, "over the quota");
        },
        "the test's arena", peer_mapped_);
    receiver_ = std::make_unique<ReceiverArena>(ArenaPlace{peer_, kArenaOffset, kArenaBytes},
                                                entries_.get(), kListCapacity, &count_, &taken_,
                                                &visibility_);
  }

  Visibility visibility_{CoherenceMode::kCoherent};
  std::unique_ptr<SharedWord[]> entries_{new SharedWord[kListCapacity]{}};
  SharedWord count_{0};
  SharedWord taken_{0};
  uint64_t charged_ = 0;
  uint64_t quota_ = ~uint64_t{0};
  bool peer_mapped_ = true;
  std::shared_ptr<Segment> peer_;
  std::unique_ptr<SenderArena> sender_;
  std::unique_ptr<ReceiverArena> receiver_;
};

TEST_F(DirectionArenaTest, TheReceiverReadsInPlaceAndTheSenderReusesWhatItReleases) {
  uint64_t offset;
  uint64_t capacity;
  ASSERT_TRUE(sender_->Allocate(1000, &offset, &capacity).ok());
  EXPECT_EQ(capacity, 1024u);
  EXPECT_GE(offset, kArenaOffset);
  EXPECT_EQ(charged_, 1024u);
  std::memcpy(sender_->At(offset), "in place", 9);
  const uint8_t* read = receiver_->Read(offset, 1000);
  ASSERT_NE(read, nullptr);
  EXPECT_STREQ(reinterpret_cast<const char*>(read), "in place");
  // The same memory through the receiver's own read-only mapping, not a copy.
  std::memcpy(sender_->At(offset), "again", 6);
  EXPECT_STREQ(reinterpret_cast<const char*>(read), "again");
  receiver_->Release(offset);
  uint64_t again;
  ASSERT_TRUE(sender_->Allocate(900, &again, &capacity).ok());
  EXPECT_EQ(again, offset);
  EXPECT_EQ(charged_, 1024u);
  EXPECT_EQ(sender_->made_real(), 1024u);
}

// A client's sender, whose receiver (the server) has not made its segment yet: a placeholder lies
// where the released list will be mapped.
class DirectionArenaBeforeThePeerIsMappedTest : public DirectionArenaTest {
 protected:
  DirectionArenaBeforeThePeerIsMappedTest() { peer_mapped_ = false; }
};

TEST_F(DirectionArenaBeforeThePeerIsMappedTest, NothingIsTakenBackUntilThePeerIsMapped) {
  uint64_t first;
  uint64_t capacity;
  ASSERT_TRUE(sender_->Allocate(1000, &first, &capacity).ok());
  receiver_->Release(first);
  uint64_t second;
  ASSERT_TRUE(sender_->Allocate(1000, &second, &capacity).ok());
  EXPECT_NE(second, first);
  EXPECT_EQ(taken_.load(), 0u) << "the released list was read before it was mapped";
  sender_->PeerMapped();
  uint64_t again;
  ASSERT_TRUE(sender_->Allocate(1000, &again, &capacity).ok());
  EXPECT_EQ(again, first);
  EXPECT_EQ(taken_.load(), 1u);
}

TEST_F(DirectionArenaTest, TheReceiverRefusesWhatIsNotInTheArena) {
  uint64_t end = kArenaOffset + kArenaBytes;
  EXPECT_NE(receiver_->Read(kArenaOffset, kArenaBytes), nullptr);
  EXPECT_EQ(receiver_->Read(0, 64), nullptr);                            // the rings
  EXPECT_EQ(receiver_->Read(kArenaOffset - 64, 64), nullptr);            // likewise
  EXPECT_EQ(receiver_->Read(kArenaOffset + 8, 64), nullptr);             // not a block's start
  EXPECT_EQ(receiver_->Read(end - 64, 65), nullptr);                     // past the end
  EXPECT_EQ(receiver_->Read(end, 0), nullptr);                           // at the end
  EXPECT_EQ(receiver_->Read(kArenaOffset + 64, ~uint64_t{0}), nullptr);  // wraps around
  EXPECT_EQ(receiver_->Read(~uint64_t{0} - 63, 64), nullptr);
}

TEST_F(DirectionArenaTest, AMessageTooLargeOrAFullArenaOrAQuotaIsResourceExhausted) {
  uint64_t offset;
  uint64_t capacity;
  Status too_large = sender_->Allocate(kArenaBytes + 1, &offset, &capacity);
  EXPECT_EQ(too_large.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(too_large.error_message().find("raise the test's arena"), std::string::npos)
      << too_large.ToString();
  ASSERT_TRUE(sender_->Allocate(kArenaBytes / 2, &offset, &capacity).ok());
  ASSERT_TRUE(sender_->Allocate(kArenaBytes / 2, &offset, &capacity).ok());
  Status full = sender_->Allocate(64, &offset, &capacity);
  EXPECT_EQ(full.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(full.error_message().find("its peer holds the rest"), std::string::npos)
      << full.ToString();
  receiver_->Release(offset);
  EXPECT_TRUE(sender_->Allocate(64, &offset, &capacity).ok());

  quota_ = 0;  // a fresh arena that may make nothing memory
  SetUp();
  Status refused = sender_->Allocate(64, &offset, &capacity);
  EXPECT_EQ(refused.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.error_message(), "over the quota");
  EXPECT_EQ(sender_->made_real(), 0u);
}

// A hostile receiver releases a block twice, an offset inside a block, one in the rings and one
// past the arena: the sender frees the one block once, and never hands out a block in use.
TEST_F(DirectionArenaTest, BogusOrDuplicateReleasesDoNotDisturbTheSender) {
  uint64_t kept;
  uint64_t released;
  uint64_t capacity;
  ASSERT_TRUE(sender_->Allocate(4096, &kept, &capacity).ok());
  ASSERT_TRUE(sender_->Allocate(4096, &released, &capacity).ok());
  std::memcpy(sender_->At(kept), "kept", 5);
  for (uint64_t offset : {released, released, kept + 64, uint64_t{64}, kArenaOffset - 64,
                          kArenaOffset + kArenaBytes, ~uint64_t{0}}) {
    receiver_->Release(offset);
  }
  EXPECT_EQ(receiver_->Flush(), 0u);
  EXPECT_TRUE(sender_->TakeReleased());
  EXPECT_EQ(sender_->outstanding(), 1u);
  std::set<uint64_t> handed_out = {kept};
  uint64_t offset;
  while (sender_->Allocate(4096, &offset, &capacity).ok()) {
    EXPECT_TRUE(handed_out.insert(offset).second) << offset << " handed out twice";
    std::memset(sender_->At(offset), 0xee, 4096);
  }
  EXPECT_EQ(handed_out.size(), kArenaBytes / 4096);
  EXPECT_STREQ(reinterpret_cast<const char*>(receiver_->Read(kept, 5)), "kept");
}

// Without coherence, the receiver invalidates exactly what it is about to read.
TEST_F(DirectionArenaTest, TheReceiverInvalidatesWhatItReads) {
  static auto* const recorder = new LoggingRecorder;
  if (!SetVisibilityRecorder(recorder)) {
    GTEST_SKIP() << "the library was built without its test hooks (NOTNETS_FAULT_INJECTION)";
  }
  Visibility without_coherence(CoherenceMode::kWriteBackInvalidate);
  std::unique_ptr<SharedWord[]> entries(new SharedWord[kListCapacity]{});
  SharedWord count{0};
  SharedWord taken{0};
  uint64_t offset;
  uint64_t capacity;
  ASSERT_TRUE(sender_->Allocate(200, &offset, &capacity).ok());
  ReceiverArena receiver(ArenaPlace{peer_, kArenaOffset, kArenaBytes}, entries.get(), kListCapacity,
                         &count, &taken, &without_coherence);
  size_t start = recorder->events.size();
  const uint8_t* read = receiver.Read(offset, 200);
  std::vector<LoggingRecorder::Event> events(recorder->events.begin() + start,
                                             recorder->events.end());
  SetVisibilityRecorder(nullptr);
  ASSERT_NE(read, nullptr);
  auto address = reinterpret_cast<uintptr_t>(read);
  bool invalidated = false;
  for (const LoggingRecorder::Event& event : events) {
    invalidated |= event.kind == LoggingRecorder::Kind::kInvalidate && event.begin <= address &&
                   address + 200 <= event.end;
  }
  EXPECT_TRUE(invalidated) << "the receiver read a block without invalidating it";
}

INSTANTIATE_TEST_SUITE_P(Coherence, ReleasedListTest,
                         ::testing::Values(CoherenceMode::kCoherent,
                                           CoherenceMode::kWriteBackInvalidate),
                         [](const auto& info) {
                           return info.param == CoherenceMode::kCoherent ? "Coherent"
                                                                         : "WriteBackInvalidate";
                         });

}  // namespace
}  // namespace notnets::internal
