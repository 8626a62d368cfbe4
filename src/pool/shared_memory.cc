#include "pool/shared_memory.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "pool/visibility_recorder.h"

namespace notnets::internal {

namespace {

template <typename Flush>
void ForEachLine(const void* data, size_t size, Flush flush) {
  auto address = reinterpret_cast<uintptr_t>(data) & ~uintptr_t{kCacheLineBytes - 1};
  auto end = reinterpret_cast<uintptr_t>(data) + size;
  for (; address < end; address += kCacheLineBytes) flush(reinterpret_cast<const void*>(address));
}

#ifdef NOTNETS_FAULT_INJECTION
std::atomic<VisibilityRecorder*> recorder{nullptr};

VisibilityRecorder* Recorder() { return recorder.load(std::memory_order_acquire); }
#endif

}  // namespace

bool SetVisibilityRecorder([[maybe_unused]] VisibilityRecorder* stand_in) {
#ifdef NOTNETS_FAULT_INJECTION
  recorder.store(stand_in, std::memory_order_release);
  return true;
#else
  return false;
#endif
}

void Visibility::PublishAndWriteBack(SharedWord* word, uint64_t value) {
#ifdef NOTNETS_FAULT_INJECTION
  if (VisibilityRecorder* stand_in = Recorder()) return stand_in->Publish(word, value);
#endif
  word->store(value, std::memory_order_release);
  WriteBackLines(word, sizeof(*word));
}

uint64_t Visibility::InvalidateAndConsume(const SharedWord* word) {
#ifdef NOTNETS_FAULT_INJECTION
  if (VisibilityRecorder* stand_in = Recorder()) return stand_in->Consume(word);
#endif
  InvalidateLines(word, sizeof(*word));
  return word->load(std::memory_order_acquire);
}

// On x86, clflush writes a line back and evicts it, so one instruction serves both directions.
// Other architectures fall back to a full fence (correct only on coherent memory); a
// non-coherent port adds their cache-maintenance instructions here.
void Visibility::WriteBackLines(const void* data, size_t size) {
#ifdef NOTNETS_FAULT_INJECTION
  if (VisibilityRecorder* stand_in = Recorder()) return stand_in->WriteBack(data, size);
#endif
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
#ifdef NOTNETS_FAULT_INJECTION
  if (VisibilityRecorder* stand_in = Recorder()) return stand_in->Invalidate(data, size);
#endif
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
