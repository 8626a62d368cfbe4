// The callback calls of one PoolServer that still exist: its teardown waits for them, as gRPC's
// server waits for its callback reactors, because a call reaches its reactor (OnDone last) and
// through it the service, both of which the user frees once the grpc::Server is gone.
#ifndef NOTNETS_GRPC_LIVE_CALLS_H_
#define NOTNETS_GRPC_LIVE_CALLS_H_

#include <atomic>
#include <functional>

#include "grpc/deferrer.h"

namespace notnets::grpc::internal {

class LiveCalls {
 public:
  // Held by a call from its construction to its destruction: declared as the call's first
  // member, it goes after everything else of the call.
  class Token {
   public:
    explicit Token(LiveCalls* calls) : calls_(calls) {
      calls_->count_.fetch_add(1, std::memory_order_relaxed);
    }
    ~Token() {
      // seq_cst: Wake's look at whether anyone waits must come after the count falls.
      if (calls_->count_.fetch_sub(1, std::memory_order_seq_cst) == 1) Deferrer::Get().Wake();
    }
    Token(const Token&) = delete;
    Token& operator=(const Token&) = delete;

   private:
    LiveCalls* calls_;
  };

  // Blocks until no call is left, running `release` first and then whenever something may have
  // changed (after Changed()), so that it can drop references that keep ended calls alive.
  void WaitNone(const std::function<void()>& release) {
    Deferrer::Get().RunUntil([&] {
      release();
      return count_.load(std::memory_order_seq_cst) == 0;
    });
  }
  // Calls that exist now.
  int Count() const { return count_.load(std::memory_order_seq_cst); }
  // A call reached a state `release` may act on.
  static void Changed() { Deferrer::Get().Wake(); }

 private:
  std::atomic<int> count_{0};
};

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_LIVE_CALLS_H_
