// A doorbell: lets a poller that has been idle for a while sleep in the kernel until a peer
// publishes work, instead of waking up periodically to look.
//
// An event count in shared memory: the sleeper announces itself, looks for work once more, and
// sleeps only if the sequence word is unchanged; a producer that sees a sleeper after publishing
// bumps the sequence and wakes it (a Linux futex on the shared mapping). Nothing is held while
// sleeping, so a dead sleeper or ringer leaves nothing locked. Sleeps always have a timeout:
// where the futex cannot reach (other hosts sharing a CXL pool), the sleeper still wakes up.
// NOTNETS_DOORBELL=sleep makes a process ring without the futex, as between hosts.
#ifndef NOTNETS_POOL_DOORBELL_H_
#define NOTNETS_POOL_DOORBELL_H_

#include <chrono>
#include <cstdint>

#include "pool/shared_memory.h"

namespace notnets::internal {

class Doorbell {
 public:
  // A doorbell attached to nothing: Ring does nothing.
  Doorbell() = default;
  // `sequence` and `sleepers` are words in the pool (a ServiceEntry's), or in the segments of a
  // connection's two directions: the ringer writes only `sequence` and the sleepers only
  // `sleepers`, so each may be read-only to the other side.
  Doorbell(SharedWord* sequence, SharedWord* sleepers) : sequence_(sequence), sleepers_(sleepers) {}

  // False for a doorbell attached to nothing, which nobody can sleep on.
  bool attached() const { return sleepers_ != nullptr; }

  // Sleeper: announces a sleeper and returns the sequence to pass to Sleep. Look for work after
  // this call, then Sleep only if there is none; call EndSleep afterwards in every case.
  uint64_t BeginSleep();
  // Sleeps until the doorbell rings after BeginSleep returned `sequence`, or `timeout` passes.
  void Sleep(uint64_t sequence, std::chrono::microseconds timeout);
  void EndSleep();

  // Producer: after publishing work, wakes the sleepers if there are any. Costs a fence and a
  // load when nobody sleeps.
  void Ring();

 private:
  SharedWord* sequence_ = nullptr;
  SharedWord* sleepers_ = nullptr;
};

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_DOORBELL_H_
