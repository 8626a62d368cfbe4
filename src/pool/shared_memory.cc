#include "pool/shared_memory.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace notnets::internal {

namespace {

template <typename Flush>
void ForEachLine(const void* data, size_t size, Flush flush) {
  auto address = reinterpret_cast<uintptr_t>(data) & ~uintptr_t{kCacheLineBytes - 1};
  auto end = reinterpret_cast<uintptr_t>(data) + size;
  for (; address < end; address += kCacheLineBytes) flush(reinterpret_cast<const void*>(address));
}

}  // namespace

// On x86, clflush writes a line back and evicts it, so one instruction serves both directions.
// Other architectures fall back to a full fence (correct only on coherent memory); a
// non-coherent port adds their cache-maintenance instructions here.
void Visibility::WriteBackLines(const void* data, size_t size) {
#if defined(__x86_64__) || defined(__i386__)
  ForEachLine(data, size, [](const void* line) { _mm_clflush(line); });
  _mm_sfence();
#else
  (void)data;
  (void)size;
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

void Visibility::InvalidateLines(const void* data, size_t size) {
#if defined(__x86_64__) || defined(__i386__)
  ForEachLine(data, size, [](const void* line) { _mm_clflush(line); });
  _mm_mfence();
#else
  (void)data;
  (void)size;
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

}  // namespace notnets::internal
