// A direction's arena as each party uses it: the sender allocates from the arena in its own
// segment and takes blocks back from the receiver's released list; the receiver reads blocks in
// place, validated against the arena's bounds, and releases them into the list in its own segment.
// Neither writes the other's memory (connection_layout.h). Both classes are not thread-safe: their
// owner serializes calls.
#ifndef NOTNETS_CHANNEL_DIRECTION_ARENA_H_
#define NOTNETS_CHANNEL_DIRECTION_ARENA_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "channel/arena_allocator.h"
#include "channel/released_list.h"
#include "notnets/status.h"
#include "pool/segment.h"
#include "pool/shared_memory.h"

namespace notnets::internal {

// Where one direction's arena and released list lie, in the mappings of this process.
struct ArenaPlace {
  std::shared_ptr<Segment> segment;  // the segment that holds the arena (the sender's)
  uint64_t arena_offset = 0;         // in that segment, a multiple of the cache line
  uint64_t arena_bytes = 0;
};

class SenderArena {
 public:
  // `place`: the arena, in this side's own segment. `released`, `released_count`: the
  // receiver's released list of `released_capacity` entries and its count, in the receiver's
  // segment; `taken`: this side's DirectionHeader::peer_released_consumed. `charge(bytes)` is
  // called before `bytes` more of the arena become memory, and refuses them with its status.
  // `option` names what to raise when a message does not fit the arena. `peer_mapped`: the
  // receiver's segment is mapped already; if not, nothing is taken back until PeerMapped.
  SenderArena(ArenaPlace place, const SharedWord* released, uint64_t released_capacity,
              const SharedWord* released_count, SharedWord* taken, const Visibility* visibility,
              std::function<Status(uint64_t)> charge, std::string option, bool peer_mapped);
  SenderArena(const SenderArena&) = delete;
  SenderArena& operator=(const SenderArena&) = delete;

  // A block of at least `bytes`: its offset in the segment (what a descriptor carries) and its
  // size. Takes back what the receiver released first. RESOURCE_EXHAUSTED if the message is
  // larger than the arena (naming the option), if the receiver holds the rest, or if `charge` or
  // the file system refuses more memory.
  Status Allocate(uint64_t bytes, uint64_t* offset, uint64_t* capacity);
  // The first byte of the block at segment offset `offset`.
  uint8_t* At(uint64_t offset) const { return place_.segment->base() + offset; }
  // Gives back a block that was never published.
  void Free(uint64_t offset);
  // The size of the block at segment offset `offset` if it is handed out (published or not, and
  // not released yet); 0 otherwise.
  uint64_t CapacityOf(uint64_t offset) const {
    return offset >= place_.arena_offset ? allocator_.CapacityOf(offset - place_.arena_offset) : 0;
  }
  // Takes back every block the receiver released since the last call, ignoring offsets it was
  // never given or gives back twice. False if the receiver's list breaks the protocol.
  bool TakeReleased();
  // The receiver's segment is mapped now, where a placeholder lay: its list may be read.
  void PeerMapped() { peer_mapped_ = true; }
  // Bytes of the arena that are memory: what the sender's quotas count.
  uint64_t made_real() const { return allocator_.made_real(); }
  size_t outstanding() const { return allocator_.outstanding(); }

 private:
  ArenaPlace place_;
  ArenaAllocator allocator_;
  ReleasedListReader released_;
  std::function<Status(uint64_t)> charge_;
  std::string option_;
  Status refusal_;  // why the last backing failed
  std::vector<uint64_t> taken_;
  bool peer_mapped_;
};

class ReceiverArena {
 public:
  // `place`: the sender's arena, in the sender's segment (mapped read-only here). `released`,
  // `released_count`: this side's released list and its count; `peer_taken`: the sender's
  // DirectionHeader::peer_released_consumed.
  ReceiverArena(ArenaPlace place, SharedWord* released, uint64_t released_capacity,
                SharedWord* released_count, const SharedWord* peer_taken,
                const Visibility* visibility);
  ReceiverArena(const ReceiverArena&) = delete;
  ReceiverArena& operator=(const ReceiverArena&) = delete;

  // The `length` bytes at segment offset `offset` of the sender's arena, made visible here; null
  // if they are not all inside the arena or the offset is not a block's (a cache line's) start.
  const uint8_t* Read(uint64_t offset, uint64_t length) const;
  // Gives the block at `offset` back to the sender.
  void Release(uint64_t offset) { released_.Release(offset); }
  // Appends the releases the list had no room for; returns how many still wait.
  size_t Flush() { return released_.Flush(); }

 private:
  ArenaPlace place_;
  const Visibility* visibility_;
  ReleasedListWriter released_;
};

}  // namespace notnets::internal

#endif  // NOTNETS_CHANNEL_DIRECTION_ARENA_H_
