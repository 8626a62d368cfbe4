// The two ends of one direction of a connection: a ring of descriptors.
//
// A writer claims a position, fills the slot and publishes the slot's sequence word (position +
// 1). The reader polls the slot of its next position for that sequence, copies the descriptor out
// and publishes how far it has read; writers reuse a slot only after that counter passes it.
// Nothing else synchronizes the two sides, so neither can leave the other locked out by dying.
#ifndef NOTNETS_CHANNEL_RING_H_
#define NOTNETS_CHANNEL_RING_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "channel/descriptor.h"
#include "pool/shared_memory.h"

namespace notnets::internal {

// A hint to the CPU, not a way to make anything visible: fetch the cache line at `address` in a
// state this CPU may write without asking other CPUs first.
inline void PrefetchForWrite(const void* address) {
#if defined(__x86_64__) || defined(__i386__)
  // PREFETCHW; x86 CPUs that lack it execute it as a no-op.
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(address)));
#else
  __builtin_prefetch(address, 1, 3);
#endif
}

class RingWriter {
 public:
  // `reader_consumed` is the reader's counter of descriptors it has consumed.
  RingWriter(Descriptor* slots, uint32_t capacity, const SharedWord* reader_consumed,
             const Visibility* visibility)
      : slots_(slots),
        mask_(capacity - 1),
        prefetch_ahead_(std::min<uint64_t>(kPrefetchAhead, mask_)),
        reader_consumed_(reader_consumed),
        visibility_(visibility) {}

  // Reserves the next position if the ring has room for it. Thread-safe among the writers of one
  // process; a claimed position must be published.
  bool TryClaim(uint64_t* position) {
    uint64_t next = next_.load(std::memory_order_relaxed);
    while (true) {
      if (next - known_consumed_.load(std::memory_order_acquire) > mask_) {
        // Looks full: refresh our cached copy of the reader's counter.
        uint64_t consumed = visibility_->Consume(reader_consumed_);
        // A counter ahead of every position claimed is garbage. Ahead of `next` alone it is not:
        // other writer threads may have claimed positions since `next` was read, and the reader
        // consumed them; the compare-exchange below then fails and reads `next` again. (Taking
        // that for garbage made a server close the connection of a client that broke no rule.)
        if (consumed > next_.load(std::memory_order_relaxed)) return false;
        known_consumed_.store(consumed, std::memory_order_release);
        if (consumed <= next && next - consumed > mask_) return false;
      }
      if (next_.compare_exchange_weak(next, next + 1, std::memory_order_relaxed)) {
        *position = next;
        return true;
      }
    }
  }

  // Writes `message` into the slot at `position` (from TryClaim) and publishes it.
  void Publish(uint64_t position, const Message& message) {
    Descriptor* slot = &slots_[position & mask_];
    AnnotateTakeOver(slot);  // the reader, in another process, released it
    std::memcpy(reinterpret_cast<uint8_t*>(slot) + sizeof(SharedWord), &message, sizeof(message));
    AnnotateHandOff(slot);
    visibility_->Publish(&slot->sequence, position + 1);
    // The reader last read that slot a lap ago; ask for it now, while nobody polls it, so that
    // writing it later does not wait for the reader's CPU to give it up.
    PrefetchForWrite(&slots_[(position + prefetch_ahead_) & mask_]);
  }

 private:
  // How many positions ahead of a publish the writer fetches the slot it will write.
  static constexpr uint64_t kPrefetchAhead = 4;

  Descriptor* slots_;
  uint64_t mask_;
  uint64_t prefetch_ahead_;
  const SharedWord* reader_consumed_;
  const Visibility* visibility_;
  std::atomic<uint64_t> next_{0};
  // The reader's counter as some writer thread last consumed it. Another writer that trusts it
  // reuses slots the reader released, so it must also see the reader's reads of them as done:
  // hence release and acquire, not relaxed (free on x86).
  std::atomic<uint64_t> known_consumed_{0};
};

class RingReader {
 public:
  // `consumed` is this reader's counter, in the reader's own direction.
  RingReader(const Descriptor* slots, uint32_t capacity, SharedWord* consumed,
             const Visibility* visibility)
      : slots_(slots), mask_(capacity - 1), consumed_(consumed), visibility_(visibility) {}

  // Copies the next published message into `*message` and releases its slot. False if none is
  // published. One reader at a time: callers serialize.
  bool TryRead(Message* message) { return TryRead(message, 1) == 1; }

  // Copies up to `max` published messages, in order, into `messages` and releases their slots
  // with one publish of the counter; returns how many. One reader at a time: callers serialize.
  size_t TryRead(Message* messages, size_t max) {
    uint64_t first = next_.load(std::memory_order_relaxed);
    size_t count = 0;
    for (; count < max; ++count) {
      const Descriptor* slot = &slots_[(first + count) & mask_];
      if (!visibility_->Arrived(&slot->sequence, first + count + 1)) break;
      std::memcpy(&messages[count], reinterpret_cast<const uint8_t*>(slot) + sizeof(SharedWord),
                  sizeof(Message));
    }
    if (count == 0) return 0;
    next_.store(first + count, std::memory_order_relaxed);
    visibility_->Publish(consumed_, first + count);
    return count;
  }

  // True if the next message is published. Safe to call while another thread reads: a stale
  // answer only sends the caller to TryRead, which checks again.
  bool HasMessage() const {
    uint64_t next = next_.load(std::memory_order_relaxed);
    return visibility_->Arrived(&slots_[next & mask_].sequence, next + 1);
  }

 private:
  const Descriptor* slots_;
  uint64_t mask_;
  SharedWord* consumed_;
  const Visibility* visibility_;
  std::atomic<uint64_t> next_{0};  // written only by the reader in turn
};

}  // namespace notnets::internal

#endif  // NOTNETS_CHANNEL_RING_H_
