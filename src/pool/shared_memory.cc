#include "pool/shared_memory.h"

#include "pool/cache_lines.h"
#include "pool/cache_simulator.h"
#include "pool/call_site_switch.h"
#include "pool/visibility_recorder.h"

namespace notnets::internal {

namespace {

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

Visibility::Visibility(CoherenceMode mode)
    : write_back_(mode == CoherenceMode::kWriteBackInvalidate || CacheSimulatorEnabled()) {}

uint64_t Visibility::LoadOrdered(const SharedWord* word) {
  auto* at = static_cast<SharedWord*>(SharedAddressOf(word));
  uint64_t value = at->load(std::memory_order_seq_cst);
  if (at != word) SimulatedAtomicDone(const_cast<SharedWord*>(word), value);
  return value;
}

bool Visibility::CompareExchange(SharedWord* word, uint64_t& expected, uint64_t desired) {
  auto* at = static_cast<SharedWord*>(SharedAddressOf(word));
  bool exchanged = at->compare_exchange_strong(expected, desired, std::memory_order_seq_cst);
  if (at != word) SimulatedAtomicDone(word, exchanged ? desired : expected);
  return exchanged;
}

uint64_t Visibility::Exchange(SharedWord* word, uint64_t value) {
  auto* at = static_cast<SharedWord*>(SharedAddressOf(word));
  uint64_t old = at->exchange(value, std::memory_order_seq_cst);
  if (at != word) SimulatedAtomicDone(word, value);
  return old;
}

uint64_t Visibility::FetchOr(SharedWord* word, uint64_t bits) {
  auto* at = static_cast<SharedWord*>(SharedAddressOf(word));
  uint64_t old = at->fetch_or(bits, std::memory_order_seq_cst);
  if (at != word) SimulatedAtomicDone(word, old | bits);
  return old;
}

uint64_t Visibility::FetchAdd(SharedWord* word, uint64_t delta) {
  auto* at = static_cast<SharedWord*>(SharedAddressOf(word));
  uint64_t old = at->fetch_add(delta, std::memory_order_relaxed);
  if (at != word) SimulatedAtomicDone(word, old + delta);
  return old;
}

void Visibility::PublishAndWriteBack(SharedWord* word, uint64_t value,
                                     [[maybe_unused]] CallSite site) {
#ifdef NOTNETS_FAULT_INJECTION
  if (CallSiteTurnedOff(site, "Publish")) return word->store(value, std::memory_order_release);
  if (VisibilityRecorder* stand_in = Recorder()) return stand_in->Publish(word, value);
  if (SimulatedPublish(word, value)) return;
#endif
  word->store(value, std::memory_order_release);
  WriteBackCacheLines(word, sizeof(*word));
}

uint64_t Visibility::InvalidateAndConsume(const SharedWord* word, [[maybe_unused]] CallSite site) {
#ifdef NOTNETS_FAULT_INJECTION
  if (CallSiteTurnedOff(site, "Consume")) return word->load(std::memory_order_acquire);
  if (VisibilityRecorder* stand_in = Recorder()) return stand_in->Consume(word);
  uint64_t value;
  if (SimulatedConsume(word, &value)) return value;
#endif
  InvalidateCacheLines(word, sizeof(*word));
  return word->load(std::memory_order_acquire);
}

bool Visibility::ArrivedWithoutCoherence(const SharedWord* word, uint64_t awaited,
                                         [[maybe_unused]] CallSite site) {
#ifdef NOTNETS_FAULT_INJECTION
  if (CallSiteTurnedOff(site, "Arrived")) return word->load(std::memory_order_acquire) == awaited;
  if (VisibilityRecorder* stand_in = Recorder()) return stand_in->Consume(word) == awaited;
  uint64_t value;
  if (SimulatedConsume(word, &value)) return value == awaited;
#endif
  if (word->load(std::memory_order_acquire) == awaited) return true;
  DropCacheLine(word);
  return false;
}

void Visibility::WriteBackLines(const void* data, size_t size, [[maybe_unused]] CallSite site) {
#ifdef NOTNETS_FAULT_INJECTION
  if (CallSiteTurnedOff(site, "WriteBack")) return;
  if (VisibilityRecorder* stand_in = Recorder()) return stand_in->WriteBack(data, size);
  if (SimulatedWriteBack(data, size)) return;
#endif
  WriteBackCacheLines(data, size);
}

void Visibility::InvalidateLines(const void* data, size_t size, [[maybe_unused]] CallSite site) {
#ifdef NOTNETS_FAULT_INJECTION
  if (CallSiteTurnedOff(site, "Invalidate")) return;
  if (VisibilityRecorder* stand_in = Recorder()) return stand_in->Invalidate(data, size);
  if (SimulatedInvalidate(data, size)) return;
#endif
  InvalidateCacheLines(data, size);
}

}  // namespace notnets::internal
