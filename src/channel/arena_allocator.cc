#include "channel/arena_allocator.h"

#include <bit>
#include <utility>

namespace notnets::internal {

ArenaAllocator::ArenaAllocator(uint64_t arena_bytes, std::function<bool(uint64_t, uint64_t)> back)
    : arena_bytes_(arena_bytes), back_(std::move(back)) {}

ArenaAllocator::Result ArenaAllocator::Allocate(uint64_t bytes, uint64_t* offset,
                                                uint64_t* capacity) {
  if (bytes > arena_bytes_) return Result::kTooLarge;
  uint32_t shift =
      bytes <= BytesOf(kMinShift) ? kMinShift : static_cast<uint32_t>(std::bit_width(bytes - 1));
  if (shift >= free_.size() || BytesOf(shift) > arena_bytes_) return Result::kTooLarge;
  // A block of its own class first, then fresh bytes, then a larger block used whole: cutting
  // it up would leave pieces that a later large message needs whole.
  uint32_t found = 0;  // the class of the block found; 0 is below every class
  if (!free_[shift].empty()) {
    found = shift;
  } else if (BytesOf(shift) <= arena_bytes_ - top_) {
    if (!back_(top_, top_ + BytesOf(shift))) return Result::kNotBacked;
    free_[shift].push_back(top_);
    top_ += BytesOf(shift);
    found = shift;
  } else {
    for (uint32_t larger = shift + 1; larger < free_.size(); ++larger) {
      if (!free_[larger].empty()) {
        found = larger;
        break;
      }
    }
    if (found == 0) return Result::kFull;
  }
  *offset = free_[found].back();
  free_[found].pop_back();
  *capacity = BytesOf(found);
  outstanding_.emplace(*offset, found);
  return Result::kOk;
}

bool ArenaAllocator::Free(uint64_t offset) {
  auto it = outstanding_.find(offset);
  if (it == outstanding_.end()) return false;
  free_[it->second].push_back(offset);
  outstanding_.erase(it);
  return true;
}

uint64_t ArenaAllocator::CapacityOf(uint64_t offset) const {
  auto it = outstanding_.find(offset);
  return it == outstanding_.end() ? 0 : BytesOf(it->second);
}

}  // namespace notnets::internal
