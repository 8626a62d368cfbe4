#include "channel/direction_arena.h"

#include <utility>

namespace notnets::internal {

SenderArena::SenderArena(ArenaPlace place, const SharedWord* released, uint64_t released_capacity,
                         const SharedWord* released_count, SharedWord* taken,
                         const Visibility* visibility, std::function<Status(uint64_t)> charge,
                         std::string option, bool peer_mapped)
    : place_(std::move(place)),
      allocator_(place_.arena_bytes,
                 [this](uint64_t from, uint64_t to) {
                   refusal_ = charge_(to - from);
                   if (refusal_.ok()) {
                     refusal_ = place_.segment->MakeReal(place_.arena_offset + from,
                                                         place_.arena_offset + to);
                   }
                   return refusal_.ok();
                 }),
      released_(released, released_capacity, released_count, taken, visibility),
      charge_(std::move(charge)),
      option_(std::move(option)),
      peer_mapped_(peer_mapped) {}

Status SenderArena::Allocate(uint64_t bytes, uint64_t* offset, uint64_t* capacity) {
  TakeReleased();
  uint64_t arena_offset;
  switch (allocator_.Allocate(bytes, &arena_offset, capacity)) {
    case ArenaAllocator::Result::kOk:
      *offset = place_.arena_offset + arena_offset;
      // The receiver, in another process, released it (BufferCache::PublishBlock hands it off).
      AnnotateTakeOver(At(*offset));
      return Status::OK;
    case ArenaAllocator::Result::kTooLarge:
      return Status(StatusCode::RESOURCE_EXHAUSTED,
                    "a message of " + std::to_string(bytes) +
                        " bytes does not fit the connection's arena of " +
                        std::to_string(place_.arena_bytes) + " bytes; raise " + option_);
    case ArenaAllocator::Result::kFull:
      return Status(StatusCode::RESOURCE_EXHAUSTED,
                    "the connection's arena of " + std::to_string(place_.arena_bytes) +
                        " bytes has no block of " + std::to_string(bytes) +
                        " bytes free: its peer holds the rest; release messages sooner, or "
                        "raise " +
                        option_);
    case ArenaAllocator::Result::kNotBacked:
      break;
  }
  return refusal_;
}

void SenderArena::Free(uint64_t offset) {
  if (offset >= place_.arena_offset) allocator_.Free(offset - place_.arena_offset);
}

bool SenderArena::TakeReleased() {
  // The placeholder holds nothing, and reading it could race with the mapping that replaces it.
  if (!peer_mapped_) return true;
  taken_.clear();
  if (!released_.Take(&taken_)) return false;
  // Whatever the receiver wrote: the allocator frees only blocks it handed out, once each.
  for (uint64_t offset : taken_) Free(offset);
  return true;
}

ReceiverArena::ReceiverArena(ArenaPlace place, SharedWord* released, uint64_t released_capacity,
                             SharedWord* released_count, const SharedWord* peer_taken,
                             const Visibility* visibility)
    : place_(std::move(place)),
      visibility_(visibility),
      released_(released, released_capacity, released_count, peer_taken, visibility,
                place_.arena_bytes / kCacheLineBytes) {}

const uint8_t* ReceiverArena::Read(uint64_t offset, uint64_t length) const {
  // Read once by the caller; every comparison here cannot overflow.
  if (offset < place_.arena_offset || offset % kCacheLineBytes != 0) return nullptr;
  uint64_t in_arena = offset - place_.arena_offset;
  if (in_arena >= place_.arena_bytes || length > place_.arena_bytes - in_arena) return nullptr;
  const uint8_t* data = place_.segment->base() + offset;
  visibility_->Invalidate(data, length);
  return data;
}

}  // namespace notnets::internal
