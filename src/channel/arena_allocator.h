// The allocator of a sender's arena: the part of its own direction's segment that holds the
// payloads and metadata it publishes (connection_layout.h). All of its state is in this process:
// nothing another process writes can corrupt it. A block comes back only when the receiver
// releases it (released_list.h), and Free checks every offset against the blocks handed out, so a
// receiver that releases a block twice, or an offset it made up, is ignored.
#ifndef NOTNETS_CHANNEL_ARENA_ALLOCATOR_H_
#define NOTNETS_CHANNEL_ARENA_ALLOCATOR_H_

#include <array>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

namespace notnets::internal {

// Not thread-safe: its owner serializes calls.
class ArenaAllocator {
 public:
  // Blocks are powers of two from 64 bytes (a cache line, so that a block's write-back or
  // invalidation never touches a neighbour's line) up to the arena.
  static constexpr uint32_t kMinShift = 6;

  enum class Result : uint8_t {
    kOk,
    kTooLarge,   // larger than the whole arena: only a larger arena can carry it
    kFull,       // every byte is handed out, or cut into blocks of other sizes
    kNotBacked,  // `back` refused to make the new range real (a full file system, a quota)
  };

  // Hands out blocks of [0, arena_bytes), offsets relative to the arena's first byte, which
  // is cache-line aligned. Before a block reaches past every byte handed out so far, calls
  // `back(from, to)` to make [from, to) real, and fails with kNotBacked if it returns false.
  ArenaAllocator(uint64_t arena_bytes, std::function<bool(uint64_t, uint64_t)> back);
  ArenaAllocator(const ArenaAllocator&) = delete;
  ArenaAllocator& operator=(const ArenaAllocator&) = delete;

  // A block of at least `bytes` (at least one): its offset in `*offset` and its size in
  // `*capacity`.
  Result Allocate(uint64_t bytes, uint64_t* offset, uint64_t* capacity);

  // Takes back the block at `offset` if it is one this allocator handed out and has not taken
  // back yet; false otherwise, and nothing changes.
  bool Free(uint64_t offset);

  // The size of the handed-out block at `offset`; 0 if there is none.
  uint64_t CapacityOf(uint64_t offset) const;

  // Bytes from the arena's start made real so far: what the arena costs in memory.
  uint64_t made_real() const { return top_; }
  uint64_t arena_bytes() const { return arena_bytes_; }
  size_t outstanding() const { return outstanding_.size(); }

 private:
  static uint64_t BytesOf(uint32_t shift) { return uint64_t{1} << shift; }

  const uint64_t arena_bytes_;
  const std::function<bool(uint64_t, uint64_t)> back_;
  // Every byte below top_ has been handed out once.
  uint64_t top_ = 0;
  // Blocks given back, by size class (the index is the shift).
  std::array<std::vector<uint64_t>, 64> free_;
  // Blocks handed out and not given back: offset -> shift.
  std::unordered_map<uint64_t, uint32_t> outstanding_;
};

}  // namespace notnets::internal

#endif  // NOTNETS_CHANNEL_ARENA_ALLOCATOR_H_
