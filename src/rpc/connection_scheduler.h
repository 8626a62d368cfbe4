// Which connections a server's workers poll: the table of open connections, the hot set polled
// on every pass, and the round-robin turn in which cold ones are polled a few per pass. A pass
// looks only at the hot set's words that may have a bit set, so that thousands of idle
// connections cost it nothing.
#ifndef NOTNETS_RPC_CONNECTION_SCHEDULER_H_
#define NOTNETS_RPC_CONNECTION_SCHEDULER_H_

#include <atomic>
#include <cstdint>

namespace notnets::internal {

// Up to kCapacity (a multiple of 64) connections. Insert is for one thread at a time (the
// housekeeping worker); everything else is thread-safe.
template <typename Connection, uint32_t kCapacity>
class ConnectionScheduler {
  static_assert(kCapacity % 64 == 0);

 public:
  ConnectionScheduler() = default;
  ConnectionScheduler(const ConnectionScheduler&) = delete;
  ConnectionScheduler& operator=(const ConnectionScheduler&) = delete;

  // One past the highest slot ever used: the slots a pass looks at.
  uint32_t used() const { return used_.load(std::memory_order_acquire); }
  // The connection in `slot`, or null.
  Connection* At(uint32_t slot) const { return slots_[slot].load(std::memory_order_acquire); }

  // The lowest empty slot, or kCapacity if all are taken.
  uint32_t FreeSlot() const {
    uint32_t used = used_.load(std::memory_order_relaxed);
    uint32_t slot = 0;
    while (slot < used && slots_[slot].load(std::memory_order_relaxed) != nullptr) ++slot;
    return slot;
  }
  // Puts `connection` in `slot` (from FreeSlot), hot: a new connection usually has a request
  // coming.
  void Insert(uint32_t slot, Connection* connection) {
    slots_[slot].store(connection, std::memory_order_release);
    SetHot(slot, true);
    uint32_t used = used_.load(std::memory_order_relaxed);
    if (slot == used) used_.store(used + 1, std::memory_order_release);
  }
  // Empties `slot`; a worker that loaded its connection before may still be looking at it.
  void Remove(uint32_t slot) {
    SetHot(slot, false);
    slots_[slot].store(nullptr, std::memory_order_release);
  }

  bool IsHot(uint32_t slot) const {
    return (hot_[slot / 64].load(std::memory_order_relaxed) >> (slot % 64)) & 1;
  }
  void SetHot(uint32_t slot, bool hot) {
    uint32_t word = slot / 64;
    uint64_t bit = uint64_t{1} << (slot % 64);
    std::atomic<uint64_t>& summary = hot_words_[word / 64];
    uint64_t word_bit = uint64_t{1} << (word % 64);
    // Sequentially consistent (these are rare: a connection turning hot or cold): a worker that
    // clears a word's summary bit while another sets a slot in that word sees the new slot when
    // it looks again, or the other's summary store comes after its clear; either way the bit
    // stays.
    if (hot) {
      hot_[word].fetch_or(bit);
      summary.fetch_or(word_bit);
    } else if ((hot_[word].fetch_and(~bit) & ~bit) == 0) {
      summary.fetch_and(~word_bit);
      if (hot_[word].load() != 0) summary.fetch_or(word_bit);
    }
  }

  // Calls `poll(slot, connection)` for every hot slot below `used` that holds a connection; true
  // if one of the calls returned true.
  template <typename Poll>
  bool ForEachHot(uint32_t used, Poll&& poll) {
    bool any = false;
    for (uint32_t group = 0; group * 64 * 64 < used; ++group) {
      for (uint64_t words = hot_words_[group].load(std::memory_order_relaxed); words != 0;
           words &= words - 1) {
        uint32_t word = group * 64 + static_cast<uint32_t>(__builtin_ctzll(words));
        for (uint64_t bits = hot_[word].load(std::memory_order_relaxed); bits != 0;
             bits &= bits - 1) {
          uint32_t slot = word * 64 + static_cast<uint32_t>(__builtin_ctzll(bits));
          Connection* connection = At(slot);
          if (connection != nullptr && poll(slot, connection)) any = true;
        }
      }
    }
    return any;
  }

  // The next slot below `used` (not 0) in round-robin order.
  uint32_t NextTurn(uint32_t used) {
    // Workers may race for the cursor and poll one connection twice: harmless, and cheaper than
    // an atomic increment right after publishing a response, which would wait for that store.
    uint32_t cursor = cursor_.load(std::memory_order_relaxed);
    cursor_.store(cursor + 1, std::memory_order_relaxed);
    return cursor % used;
  }

 private:
  std::atomic<Connection*> slots_[kCapacity] = {};
  std::atomic<uint32_t> used_{0};
  std::atomic<uint64_t> hot_[kCapacity / 64] = {};  // bit per slot: polled on every pass
  // Bit per word of hot_ that may have a bit set.
  std::atomic<uint64_t> hot_words_[(kCapacity / 64 + 63) / 64] = {};
  // Written on every pass: on a line of its own, away from what the passes read.
  alignas(64) std::atomic<uint32_t> cursor_{0};
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_CONNECTION_SCHEDULER_H_
