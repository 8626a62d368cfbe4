// The at-most-once window: the recent results of calls that asked to run at most once, kept in
// the pool so that they outlive the server process that produced them.
//
// A retry of such a call carries the same token. The server that receives it looks the token up:
// a recorded result is sent again without running the handler; a call that a dead server had
// started is refused (it may have run); only an unknown token runs. The window is a fixed table
// of slots, probed from a hash of the token; a new token takes an empty probed slot, and evicts a
// finished call (or one whose server died) only when none is left.
#ifndef NOTNETS_POOL_CALL_WINDOW_H_
#define NOTNETS_POOL_CALL_WINDOW_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "notnets/status.h"
#include "pool/allocator.h"
#include "pool/pool_mapping.h"
#include "pool/shared_memory.h"

namespace notnets::internal {

inline constexpr uint32_t kMaxCallWindowSlots = 1u << 20;
inline constexpr size_t kCallWindowInlineBytes = 24;

struct alignas(kCacheLineBytes) CallWindowSlot {
  SharedWord token;  // the call's token; 0 for none
  // pid << 16 | status code << 8 | CallWindow::State; pid and runner_token name the server
  // process that ran (or runs) the call.
  SharedWord state;
  SharedWord runner_token;
  SharedWord response_block;  // pool offset of a block holding the response, 0 if inline
  SharedWord response_length;
  SharedWord inline_words[kCallWindowInlineBytes / 8];
};
static_assert(sizeof(CallWindowSlot) == kCacheLineBytes);

class CallWindow {
 public:
  enum class State : uint8_t { kEmpty = 0, kRunning = 1, kDone = 2, kChanging = 3 };

  // What Begin found.
  struct Entry {
    enum Kind {
      kFresh,        // unknown token, now recorded as running here: run the call
      kDone,         // finished before: `code` and `response` are its result
      kInterrupted,  // started by a server that died: it may have run
      kRunning,      // running now in live process `pid`
      kFull,         // every probed slot holds a running call
    } kind = kFull;
    uint32_t slot = 0;
    StatusCode code = StatusCode::OK;
    std::string response;
    int32_t pid = 0;
  };

  CallWindow(PoolMapping* mapping, Allocator* allocator);

  // False if the pool was created without a window.
  bool enabled() const { return slots_ != 0; }

  // Looks `token` up; an unknown token is recorded as running in this process.
  Entry Begin(uint64_t token);

  // Records the result of a call that Begin found fresh in `slot`. A result that cannot be kept
  // (no pool memory for a large response) is recorded as lost: a retry gets ABORTED.
  void Finish(uint32_t slot, uint64_t token, StatusCode code, std::string_view response);

 private:
  static constexpr uint32_t kProbes = 8;
  // Recorded instead of a status code when the response could not be kept.
  static constexpr uint64_t kResultLost = 0xff;
  // The owner id of blocks that hold kept responses (never a connection endpoint).
  static constexpr uint64_t kWindowOwner = 1;

  CallWindowSlot* slot(uint32_t index) const;
  bool ReadResult(CallWindowSlot* slot, uint64_t state, Entry* entry) const;
  void FreeResponse(CallWindowSlot* slot);

  PoolMapping* mapping_;
  Allocator* allocator_;
  uint32_t slots_;
};

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_CALL_WINDOW_H_
