// A sequentially consistent fence that ThreadSanitizer understands.
#ifndef NOTNETS_POOL_FENCE_H_
#define NOTNETS_POOL_FENCE_H_

#include <atomic>
#include <cstdint>

namespace notnets::internal {

// Orders every memory access before it against every access after it, between all threads that
// call it, as std::atomic_thread_fence(std::memory_order_seq_cst) does. ThreadSanitizer does not
// model fences (GCC warns, -Wtsan), so its builds use a sequentially consistent read-modify-write
// of one process-wide word instead: every caller's write to it is ordered with every other's.
inline void SequentialFence() {
#if defined(__SANITIZE_THREAD__)
  static std::atomic<uint64_t> word{0};
  word.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_FENCE_H_
