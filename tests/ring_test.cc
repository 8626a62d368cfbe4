// The descriptor ring: empty, full, wrap-around, and garbage from the peer.
#include "channel/ring.h"

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "pool/visibility_recorder.h"

namespace notnets::internal {
namespace {

class RingTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kCapacity = 4;
  RingTest()
      : slots_(new Descriptor[kCapacity]),
        writer_(slots_.get(), kCapacity, &consumed_, &visibility_),
        reader_(slots_.get(), kCapacity, &consumed_, &visibility_) {}

  static Message WithId(uint64_t id) {
    Message message;
    message.call_id = id;
    message.flags = static_cast<uint16_t>(DescriptorKind::kRequest);
    return message;
  }

  Visibility visibility_{CoherenceMode::kCoherent};
  SharedWord consumed_{0};
  std::unique_ptr<Descriptor[]> slots_;
  RingWriter writer_;
  RingReader reader_;
};

TEST_F(RingTest, EmptyRingHasNothingToRead) {
  Message message;
  EXPECT_FALSE(reader_.HasMessage());
  EXPECT_FALSE(reader_.TryRead(&message));
}

TEST_F(RingTest, FullRingRefusesClaimsUntilTheReaderConsumes) {
  uint64_t position;
  for (uint64_t i = 0; i < kCapacity; ++i) {
    ASSERT_TRUE(writer_.TryClaim(&position));
    EXPECT_EQ(position, i);
    writer_.Publish(position, WithId(i));
  }
  EXPECT_FALSE(writer_.TryClaim(&position));
  Message message;
  ASSERT_TRUE(reader_.TryRead(&message));
  EXPECT_EQ(message.call_id, 0u);
  EXPECT_EQ(consumed_.load(), 1u);
  ASSERT_TRUE(writer_.TryClaim(&position));
  EXPECT_EQ(position, kCapacity);
}

TEST_F(RingTest, WrapsAroundManyTimesInOrder) {
  uint64_t next_read = 0;
  for (uint64_t i = 0; i < 10 * kCapacity; ++i) {
    uint64_t position;
    ASSERT_TRUE(writer_.TryClaim(&position));
    writer_.Publish(position, WithId(i));
    if (i % 3 == 2) {
      Message message;
      while (reader_.TryRead(&message)) EXPECT_EQ(message.call_id, next_read++);
    }
  }
  Message message;
  while (reader_.TryRead(&message)) EXPECT_EQ(message.call_id, next_read++);
  EXPECT_EQ(next_read, 10 * kCapacity);
}

TEST_F(RingTest, ClaimedButUnpublishedSlotBlocksTheReader) {
  uint64_t first, second;
  ASSERT_TRUE(writer_.TryClaim(&first));
  ASSERT_TRUE(writer_.TryClaim(&second));
  writer_.Publish(second, WithId(2));
  Message message;
  EXPECT_FALSE(reader_.TryRead(&message));  // position 0 is not published yet
  writer_.Publish(first, WithId(1));
  ASSERT_TRUE(reader_.TryRead(&message));
  EXPECT_EQ(message.call_id, 1u);
  ASSERT_TRUE(reader_.TryRead(&message));
  EXPECT_EQ(message.call_id, 2u);
}

TEST_F(RingTest, BatchReadTakesWhatIsPublishedInOrderAndReleasesItOnce) {
  uint64_t positions[kCapacity];
  for (uint64_t i = 0; i < kCapacity; ++i) ASSERT_TRUE(writer_.TryClaim(&positions[i]));
  for (uint64_t i : {0, 1, 3}) writer_.Publish(positions[i], WithId(i));
  Message messages[kCapacity];
  ASSERT_EQ(reader_.TryRead(messages, kCapacity), 2u);  // position 2 is not published yet
  EXPECT_EQ(messages[0].call_id, 0u);
  EXPECT_EQ(messages[1].call_id, 1u);
  EXPECT_EQ(consumed_.load(), 2u);
  EXPECT_EQ(reader_.TryRead(messages, kCapacity), 0u);
  writer_.Publish(positions[2], WithId(2));
  ASSERT_EQ(reader_.TryRead(messages, 1), 1u);  // no more than asked for
  EXPECT_EQ(messages[0].call_id, 2u);
  ASSERT_EQ(reader_.TryRead(messages, kCapacity), 1u);
  EXPECT_EQ(messages[0].call_id, 3u);
  EXPECT_EQ(consumed_.load(), 4u);
  // A lap later the same slots hold the next positions.
  uint64_t position;
  for (uint64_t i = 4; i < 4 + kCapacity; ++i) {
    ASSERT_TRUE(writer_.TryClaim(&position));
    writer_.Publish(position, WithId(i));
  }
  ASSERT_EQ(reader_.TryRead(messages, kCapacity), kCapacity);
  for (uint64_t i = 0; i < kCapacity; ++i) EXPECT_EQ(messages[i].call_id, 4 + i);
}

TEST_F(RingTest, GarbageSequenceWordsAreNotRead) {
  slots_[0].sequence.store(12345);
  Message message;
  EXPECT_FALSE(reader_.TryRead(&message));
  slots_[0].sequence.store(~0ull);
  EXPECT_FALSE(reader_.TryRead(&message));
}

TEST_F(RingTest, AConsumedCounterAheadOfTheWriterIsIgnored) {
  consumed_.store(1000);
  uint64_t position;
  // The writer's cached counter says there is room for the first kCapacity claims.
  for (uint32_t i = 0; i < kCapacity; ++i) ASSERT_TRUE(writer_.TryClaim(&position));
  EXPECT_FALSE(writer_.TryClaim(&position));
}

TEST_F(RingTest, ConcurrentWritersAndOneReaderLoseNothing) {
  constexpr int kWriters = 3;
  constexpr uint64_t kPerWriter = 20000;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([this, w] {
      for (uint64_t i = 0; i < kPerWriter; ++i) {
        uint64_t position;
        while (!writer_.TryClaim(&position)) std::this_thread::yield();
        writer_.Publish(position, WithId(static_cast<uint64_t>(w) << 32 | i));
      }
    });
  }
  std::vector<uint64_t> next(kWriters, 0);
  uint64_t received = 0;
  Message message;
  while (received < kWriters * kPerWriter) {
    if (!reader_.TryRead(&message)) {
      std::this_thread::yield();
      continue;
    }
    uint64_t writer = message.call_id >> 32;
    ASSERT_LT(writer, static_cast<uint64_t>(kWriters));
    EXPECT_EQ(message.call_id & 0xffffffff, next[writer]++);  // each writer's order is kept
    ++received;
  }
  for (auto& writer : writers) writer.join();
}

// Stands in for the primitives of memory without coherence as plain atomics, and runs `meanwhile`
// inside the next Consume of `watched`: what other threads do while a thread reads that word.
class InterleavingRecorder : public VisibilityRecorder {
 public:
  void Publish(SharedWord* word, uint64_t value) override {
    word->store(value, std::memory_order_release);
  }
  uint64_t Consume(const SharedWord* word) override {
    if (word == watched && meanwhile) {
      std::function<void()> run = std::move(meanwhile);
      meanwhile = nullptr;
      run();
    }
    return word->load(std::memory_order_acquire);
  }
  void WriteBack(const void*, size_t) override {}
  void Invalidate(const void*, size_t) override {}

  const SharedWord* watched = nullptr;
  std::function<void()> meanwhile;
};

// A writer thread finds the ring looking full and reads the reader's counter; meanwhile another
// writer thread claims and publishes the position the first one saw as next, and the reader takes
// it. The counter is then ahead of that position, but not of what was claimed: the ring has room.
// The server took such a refusal for a client with more calls out than its ring holds and closed
// the connection (StressTest.AsyncCallsFromSeveralProcesses under the cache simulator, now and
// then).
TEST(RingInterleavingTest, AWriterThatFallsBehindOtherWritersStillClaims) {
  // Never freed: a process may use the recorder until it is cleared.
  static auto* const recorder = new InterleavingRecorder;
  if (!SetVisibilityRecorder(recorder)) {
    GTEST_SKIP() << "the library was built without its test hooks (NOTNETS_FAULT_INJECTION)";
  }
  constexpr uint32_t kCapacity = 4;
  Visibility visibility(CoherenceMode::kWriteBackInvalidate);
  SharedWord consumed{0};
  std::unique_ptr<Descriptor[]> slots(new Descriptor[kCapacity]);
  RingWriter writer(slots.get(), kCapacity, &consumed, &visibility);
  RingReader reader(slots.get(), kCapacity, &consumed, &visibility);
  Message message;
  uint64_t position;
  for (uint32_t i = 0; i < kCapacity; ++i) {
    ASSERT_TRUE(writer.TryClaim(&position));
    writer.Publish(position, message);
  }
  for (uint32_t i = 0; i < kCapacity; ++i) ASSERT_TRUE(reader.TryRead(&message));
  recorder->watched = &consumed;
  recorder->meanwhile = [&] {
    uint64_t other;
    ASSERT_TRUE(writer.TryClaim(&other));
    EXPECT_EQ(other, kCapacity);
    writer.Publish(other, message);
    ASSERT_TRUE(reader.TryRead(&message));
  };
  bool claimed = writer.TryClaim(&position);
  SetVisibilityRecorder(nullptr);
  ASSERT_TRUE(claimed);
  EXPECT_EQ(position, kCapacity + 1);
}

}  // namespace
}  // namespace notnets::internal
