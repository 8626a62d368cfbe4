// The only primitives through which processes exchange data in the pool.
//
// Every store another process must see and every load of something another process wrote goes
// through Publish / Consume (single words) or WriteBack / Invalidate (ranges), so that a pool in
// memory without cache coherence between hosts is a policy switch (CoherenceMode), not a rewrite.
// Read-modify-write operations (the allocator, the directory, connection lifecycle; on the call
// path only when a connection's buffer cache misses or overflows) need atomics that span the
// pool's users.
#ifndef NOTNETS_POOL_SHARED_MEMORY_H_
#define NOTNETS_POOL_SHARED_MEMORY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "notnets/pool.h"

#if defined(__SANITIZE_THREAD__)
#define NOTNETS_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NOTNETS_THREAD_SANITIZER 1
#endif
#endif
#ifdef NOTNETS_THREAD_SANITIZER
extern "C" void __tsan_acquire(void* address);
extern "C" void __tsan_release(void* address);
#endif

namespace notnets::internal {

// ThreadSanitizer sees the threads of one process only. Memory that leaves this process and comes
// back to another of its threads (a block freed by the peer and allocated here again, a ring slot
// reused after the peer consumed it) is ordered through the other process, which it cannot see.
// HandOff before memory leaves and TakeOver when it comes back tell it; they cost nothing in
// other builds.
inline void AnnotateHandOff([[maybe_unused]] const void* memory) {
#ifdef NOTNETS_THREAD_SANITIZER
  __tsan_release(const_cast<void*>(memory));
#endif
}
inline void AnnotateTakeOver([[maybe_unused]] const void* memory) {
#ifdef NOTNETS_THREAD_SANITIZER
  __tsan_acquire(const_cast<void*>(memory));
#endif
}

// A 64-bit word in shared memory. Always naturally aligned; lock-free so no process can die
// holding it.
using SharedWord = std::atomic<uint64_t>;
static_assert(sizeof(SharedWord) == 8 && alignof(SharedWord) == 8);
static_assert(SharedWord::is_always_lock_free);

inline constexpr size_t kCacheLineBytes = 64;

// Where a visibility primitive was called from, filled in by the compiler at each call (the
// default argument of the primitives below). Test builds can turn one call site off, to show that
// some test needs it (docs/mutation-check.md); other builds ignore it.
struct CallSite {
  static constexpr CallSite Here(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    return CallSite{file, line};
  }
  const char* file;
  int line;
};

// How this process makes its writes to a pool visible to others and others' writes to itself.
class Visibility {
 public:
  // Under the cache simulator (pool/cache_simulator.h) every pool is treated as
  // kWriteBackInvalidate.
  explicit Visibility(CoherenceMode mode);

  // False where the primitives write back and invalidate (CoherenceMode::kWriteBackInvalidate, or
  // the cache simulator).
  bool coherent() const { return !write_back_; }

  // Makes `value` visible in `word` after every write this thread made before (release).
  void Publish(SharedWord* word, uint64_t value, CallSite site = CallSite::Here()) const {
    if (write_back_) return PublishAndWriteBack(word, value, site);
    word->store(value, std::memory_order_release);
  }

  // Reads `word`; writes the publisher made before publishing it become visible (acquire).
  uint64_t Consume(const SharedWord* word, CallSite site = CallSite::Here()) const {
    if (write_back_) return InvalidateAndConsume(word, site);
    return word->load(std::memory_order_acquire);
  }

  // For a reader waiting for `word` to reach `awaited`: true once it has, and then what the
  // publisher wrote before publishing it is visible, as after Consume. Cheaper than Consume for
  // polling memory without coherence: it reads first and, while the value is not there yet,
  // only starts dropping the word's line from this CPU's cache, so that a later read fetches it.
  // A line read from the cache is one the writer wrote back whole, so an awaited value read from
  // it comes with the rest of what the line held when it was published.
  bool Arrived(const SharedWord* word, uint64_t awaited, CallSite site = CallSite::Here()) const {
    if (write_back_) return ArrivedWithoutCoherence(word, awaited, site);
    return word->load(std::memory_order_acquire) == awaited;
  }

  // Stores `value` in `word` (release) without writing it back: for values that others may see
  // late, such as counters, whose writer writes them back now and then with WriteBack. Memory
  // without coherence gets the value at that write-back, or earlier if the cache evicts the line;
  // coherent memory at once.
  void Record(SharedWord* word, uint64_t value) const {
    word->store(value, std::memory_order_release);
  }

  // Writes back [data, data+size) so that a later Publish makes it visible without coherence.
  void WriteBack(const void* data, size_t size, CallSite site = CallSite::Here()) const {
    if (write_back_) WriteBackLines(data, size, site);
  }

  // Discards stale cached copies of [data, data+size) after a Consume, before reading it.
  void Invalidate(const void* data, size_t size, CallSite site = CallSite::Here()) const {
    if (write_back_) InvalidateLines(data, size, site);
  }

  // Reads `word` in the single total order of all ordered operations: for protocols where each
  // side writes its own word and then reads the other's (directory registration).
  static uint64_t LoadOrdered(const SharedWord* word);

  // Atomically replaces `expected` with `desired` in `word`; on failure `expected` gets the value
  // seen. Sequentially consistent.
  static bool CompareExchange(SharedWord* word, uint64_t& expected, uint64_t desired);
  static uint64_t Exchange(SharedWord* word, uint64_t value);
  static uint64_t FetchOr(SharedWord* word, uint64_t bits);
  // Relaxed.
  static uint64_t FetchAdd(SharedWord* word, uint64_t delta);
  // The ordered load and read-modify-writes above work on memory shared by all the pool's users,
  // past any cache (under the cache simulator, past this process's copy of the pool).

 private:
  // The kWriteBackInvalidate halves of the primitives. In test builds (NOTNETS_FAULT_INJECTION)
  // a VisibilityRecorder, when one is set, stands in for them (pool/visibility_recorder.h), and
  // a call site turned off (pool/call_site_switch.h) leaves out its write-back or invalidate.
  static void PublishAndWriteBack(SharedWord* word, uint64_t value, CallSite site);
  static uint64_t InvalidateAndConsume(const SharedWord* word, CallSite site);
  static bool ArrivedWithoutCoherence(const SharedWord* word, uint64_t awaited, CallSite site);
  static void WriteBackLines(const void* data, size_t size, CallSite site);
  static void InvalidateLines(const void* data, size_t size, CallSite site);

  bool write_back_;
};

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_SHARED_MEMORY_H_
