// The doorbell: a ring wakes a sleeper; a ring with nobody asleep costs no wake-up.
#include "pool/doorbell.h"

#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace notnets::internal {
namespace {

using namespace std::chrono_literals;

TEST(DoorbellTest, RingWithoutSleepersLeavesTheSequenceAlone) {
  SharedWord sequence{7}, sleepers{0};
  Doorbell doorbell(&sequence, &sleepers);
  doorbell.Ring();
  EXPECT_EQ(sequence.load(), 7u);
}

TEST(DoorbellTest, RingWakesASleeper) {
  SharedWord sequence{0}, sleepers{0};
  Doorbell doorbell(&sequence, &sleepers);
  auto started = std::chrono::steady_clock::now();
  std::thread sleeper([&] {
    uint64_t seen = doorbell.BeginSleep();
    doorbell.Sleep(seen, std::chrono::milliseconds(60000));
    doorbell.EndSleep();
  });
  while (sleepers.load() == 0) std::this_thread::yield();
  // The sleeper may not be in the kernel yet: the sequence it saw has moved, so it will not
  // sleep at all. Either way it returns long before its timeout.
  doorbell.Ring();
  EXPECT_EQ(sequence.load(), 1u);
  sleeper.join();
  EXPECT_EQ(sleepers.load(), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s) << "the ring did not wake it";
}

TEST(DoorbellTest, DetachedDoorbellIgnoresRings) {
  Doorbell doorbell;
  doorbell.Ring();
}

}  // namespace
}  // namespace notnets::internal
