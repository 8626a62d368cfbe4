// A client connection's call slots: the table a response's call id indexes, and the lock-free
// stack of the free ones. A call id is a slot index with the slot's generation above it, so that
// a late response or cancellation for an earlier call in the same slot names no current call.
#ifndef NOTNETS_RPC_CALL_SLOT_TABLE_H_
#define NOTNETS_RPC_CALL_SLOT_TABLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "channel/descriptor.h"
#include "notnets/call_callback.h"
#include "notnets/client_context.h"

namespace notnets::internal {

// Where a call is, as its slot says.
enum CallState : uint32_t {
  kFree,
  kSyncWaiting,   // a thread waits in CallSync
  kAsyncWaiting,  // `done` runs when the response arrives
  kFinishing,     // one thread is completing the call; others keep out
  kCompleted,     // the response is in `response`, for the waiting thread
  kAbandoned,     // the caller gave up; the late response only frees the slot
};

// One call's slot.
struct CallSlot {
  std::atomic<uint32_t> state{kFree};
  std::atomic<uint32_t> generation{0};  // written only by the thread releasing the slot
  Message response;
  // When the call claimed its ring position (steady clock, ns), if it is timed for the
  // connection's counters; else 0.
  int64_t sent_ns = 0;
  ClientContext* context = nullptr;
  CallCallback done;
  // An asynchronous call's request as sent, its ring position and which attempt of the call it
  // is: what it takes to send the call to another server if this one goes away without reading
  // it (ClientConnection::ExpireAsyncCalls).
  Message request;
  uint64_t position = 0;
  int attempt = 0;
  std::atomic<uint32_t> next_free{0};  // index + 1 of the next free slot
};

// `capacity` slots, all free at first. Acquire, Release, Retire and PushFree are thread-safe.
class CallSlotTable {
 public:
  explicit CallSlotTable(uint32_t capacity);
  CallSlotTable(const CallSlotTable&) = delete;
  CallSlotTable& operator=(const CallSlotTable&) = delete;

  uint32_t capacity() const { return capacity_; }
  CallSlot& operator[](uint32_t index) { return slots_[index]; }
  const CallSlot& operator[](uint32_t index) const { return slots_[index]; }

  // The id of the call in slot `index` now. Never has generation 0: a zeroed cancel word names
  // no call.
  uint64_t CallId(uint32_t index) const {
    return uint64_t{slots_[index].generation.load(std::memory_order_relaxed)} << 32 | index;
  }

  // Takes a free slot and returns its index; capacity() if there is none.
  uint32_t Acquire() {
    uint64_t head = free_.load(std::memory_order_acquire);
    while (true) {
      uint32_t index_plus_one = static_cast<uint32_t>(head);
      if (index_plus_one == 0) return capacity_;
      uint64_t next = slots_[index_plus_one - 1].next_free.load(std::memory_order_relaxed);
      // The tag above the index changes with every exchange, so a head popped and pushed back
      // meanwhile does not match.
      if (free_.compare_exchange_weak(head, ((head >> 32) + 1) << 32 | next,
                                      std::memory_order_acquire)) {
        return index_plus_one - 1;
      }
    }
  }

  // Frees a slot: a new generation, state kFree, and back on the free stack.
  void Release(uint32_t index) {
    Retire(index);
    PushFree(&index, 1);
  }

  // Release in two steps: a retired slot is free and names no call, but only PushFree makes it
  // available to Acquire.
  void Retire(uint32_t index) {
    CallSlot& slot = slots_[index];
    uint32_t generation = slot.generation.load(std::memory_order_relaxed) + 1;
    slot.generation.store(generation == 0 ? 1 : generation, std::memory_order_relaxed);
    slot.state.store(kFree, std::memory_order_relaxed);
  }

  // Makes `count` (at least one) retired slots available, with one exchange; Acquire takes them
  // in the order given.
  void PushFree(const uint32_t* indexes, size_t count) {
    for (size_t i = 0; i + 1 < count; ++i) {
      slots_[indexes[i]].next_free.store(indexes[i + 1] + 1, std::memory_order_relaxed);
    }
    CallSlot& last = slots_[indexes[count - 1]];
    uint64_t head = free_.load(std::memory_order_relaxed);
    do {
      last.next_free.store(static_cast<uint32_t>(head), std::memory_order_relaxed);
    } while (!free_.compare_exchange_weak(head, ((head >> 32) + 1) << 32 | (indexes[0] + 1),
                                          std::memory_order_release));
  }

 private:
  std::unique_ptr<CallSlot[]> slots_;
  const uint32_t capacity_;
  std::atomic<uint64_t> free_{0};  // tag << 32 | index + 1 of the top free slot
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_CALL_SLOT_TABLE_H_
