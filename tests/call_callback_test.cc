#include "notnets/call_callback.h"

#include <array>
#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace notnets {
namespace {

// Counts its live copies, to check that every stored callable is destroyed exactly once.
struct Tracked {
  explicit Tracked(int* live) : live(live) { ++*live; }
  Tracked(const Tracked& other) : live(other.live) { ++*live; }
  Tracked(Tracked&& other) noexcept : live(other.live) { ++*live; }
  ~Tracked() { --*live; }
  int* live;
};

CallResult Result(StatusCode code) { return CallResult{Status(code, "m"), ReceivedMessage()}; }

TEST(CallCallbackTest, RunsASmallCallableWithItsResult) {
  int live = 0;
  StatusCode seen = StatusCode::OK;
  {
    CallCallback callback([&seen, tracked = Tracked(&live)](CallResult result) {
      seen = result.status.error_code();
    });
    EXPECT_TRUE(callback);
    EXPECT_EQ(live, 1);
    callback(Result(StatusCode::NOT_FOUND));
    EXPECT_EQ(seen, StatusCode::NOT_FOUND);
  }
  EXPECT_EQ(live, 0);
}

TEST(CallCallbackTest, LargeCallablesGoToTheHeapAndBehaveTheSame) {
  int live = 0;
  std::array<char, CallCallback::kInlineBytes + 1> big{};
  big[0] = 'x';
  char seen = 0;
  {
    CallCallback callback(
        [&seen, big, tracked = Tracked(&live)](CallResult) mutable { seen = big[0]++; });
    CallCallback moved(std::move(callback));
    EXPECT_FALSE(callback);  // a moved-from callback is empty
    EXPECT_EQ(live, 1);
    moved(Result(StatusCode::OK));
    moved(Result(StatusCode::OK));
    EXPECT_EQ(seen, 'y');  // the state of a mutable callable carries over
  }
  EXPECT_EQ(live, 0);
}

TEST(CallCallbackTest, MovesKeepExactlyOneLiveCallable) {
  int live = 0;
  int calls = 0;
  CallCallback first([&calls, tracked = Tracked(&live)](CallResult) { ++calls; });
  CallCallback second;
  EXPECT_FALSE(second);
  second = std::move(first);
  EXPECT_EQ(live, 1);
  CallCallback third([&calls, tracked = Tracked(&live)](CallResult) { calls += 10; });
  EXPECT_EQ(live, 2);
  third = std::move(second);  // destroys what `third` held
  EXPECT_EQ(live, 1);
  third(Result(StatusCode::OK));
  EXPECT_EQ(calls, 1);
  third = CallCallback();
  EXPECT_EQ(live, 0);
}

TEST(CallCallbackTest, HoldsAStdFunction) {
  std::string seen;
  std::function<void(CallResult)> function = [&seen](CallResult result) {
    seen = result.status.error_message();
  };
  CallCallback callback(std::move(function));
  callback(Result(StatusCode::ABORTED));
  EXPECT_EQ(seen, "m");
}

}  // namespace
}  // namespace notnets
