// The doorbell: a ring wakes a sleeper parked in the kernel; a ring with nobody asleep costs no
// wake-up; a ring between BeginSleep and Sleep is not lost.
#include "pool/doorbell.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace notnets::internal {
namespace {

using namespace std::chrono_literals;

// Longer than any test may run: a sleeper that sleeps this long was not woken, and the test
// hangs (ctest's timeout is the failure) rather than asserting on time.
constexpr auto kForever = std::chrono::milliseconds(std::chrono::hours(24));

// True if thread `tid` of this process is blocked in a futex wait on `address` (Linux reports a
// blocked thread's system call and its arguments in /proc/self/task/<tid>/syscall).
bool ParkedOn(pid_t tid, const void* address) {
  std::ifstream file("/proc/self/task/" + std::to_string(tid) + "/syscall");
  long number = -1;
  std::string first_argument;
  if (!(file >> number >> first_argument)) return false;
  char expected[32];
  std::snprintf(expected, sizeof(expected), "0x%" PRIxPTR, reinterpret_cast<uintptr_t>(address));
  return number == SYS_futex && first_argument == expected;
}

TEST(DoorbellTest, RingWithoutSleepersLeavesTheSequenceAlone) {
  SharedWord sequence{7}, sleepers{0};
  Doorbell doorbell(&sequence, &sleepers);
  doorbell.Ring();
  EXPECT_EQ(sequence.load(), 7u);
}

TEST(DoorbellTest, RingWakesASleeperParkedInTheKernel) {
  SharedWord sequence{0}, sleepers{0};
  Doorbell doorbell(&sequence, &sleepers);
  std::atomic<pid_t> sleeper_tid{0};
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    sleeper_tid.store(static_cast<pid_t>(::syscall(SYS_gettid)));
    uint64_t seen = doorbell.BeginSleep();
    doorbell.Sleep(seen, kForever);
    doorbell.EndSleep();
    woke.store(true);
  });
  while (sleeper_tid.load() == 0) std::this_thread::yield();
  // Wait until the kernel holds the sleeper on the sequence word (the futex is its low half).
  bool parked = false;
  while (!parked && !woke.load()) {
    parked = ParkedOn(sleeper_tid.load(), &sequence);
    if (!parked) std::this_thread::sleep_for(1ms);
  }
  if (!parked) {
    sleeper.join();
    FAIL() << "the sleeper returned without being woken";
  }
  EXPECT_EQ(sleepers.load(), 1u);
  EXPECT_FALSE(woke.load());
  doorbell.Ring();
  EXPECT_EQ(sequence.load(), 1u);
  sleeper.join();  // hangs if the ring did not wake it
  EXPECT_TRUE(woke.load());
  EXPECT_EQ(sleepers.load(), 0u);
}

TEST(DoorbellTest, ARingBetweenBeginSleepAndSleepIsNotLost) {
  SharedWord sequence{0}, sleepers{0};
  Doorbell sleeper(&sequence, &sleepers);
  Doorbell ringer(&sequence, &sleepers);
  uint64_t seen = sleeper.BeginSleep();
  // Work published and the bell rung after the sleeper looked for work: Sleep must not wait.
  ringer.Ring();
  EXPECT_EQ(sequence.load(), seen + 1);
  sleeper.Sleep(seen, kForever);  // hangs if the ring was lost
  sleeper.EndSleep();
  EXPECT_EQ(sleepers.load(), 0u);
}

}  // namespace
}  // namespace notnets::internal
