// How a receiver gives the blocks of its sender's arena back without writing its sender's memory:
// it appends their offsets to the released list in its own segment and publishes how many it has
// appended (DirectionHeader::released_count); the sender reads them and publishes how many it has
// taken (its DirectionHeader::peer_released_consumed), which frees those entries for reuse. The
// list is a ring of released_capacity() words (connection_layout.h); each word has one writer.
#ifndef NOTNETS_CHANNEL_RELEASED_LIST_H_
#define NOTNETS_CHANNEL_RELEASED_LIST_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "pool/shared_memory.h"

namespace notnets::internal {

// The receiver's half, over its own segment. Not thread-safe: its owner serializes calls.
class ReleasedListWriter {
 public:
  // `entries` (`capacity` words) and `count` are in this side's segment; `peer_consumed` is in
  // the sender's, read-only. At most `max_waiting` offsets wait in this process: an honest sender
  // never has more blocks out than its arena holds, and one that stops taking its blocks back
  // must not make this process hold ever more (it loses the offsets past that instead).
  ReleasedListWriter(SharedWord* entries, uint64_t capacity, SharedWord* count,
                     const SharedWord* peer_consumed, const Visibility* visibility,
                     size_t max_waiting)
      : entries_(entries),
        capacity_(capacity),
        count_word_(count),
        peer_consumed_(peer_consumed),
        visibility_(visibility),
        max_waiting_(max_waiting) {}
  ReleasedListWriter(const ReleasedListWriter&) = delete;
  ReleasedListWriter& operator=(const ReleasedListWriter&) = delete;

  // Gives the block at `offset` back: appended to the list now if it has room, else kept in this
  // process until a later Release or Flush finds room (dropped if max_waiting already wait).
  void Release(uint64_t offset);

  // Appends what waits in this process, as far as the list has room. Returns how many still wait.
  size_t Flush();

  size_t waiting() const { return waiting_.size(); }

 private:
  SharedWord* const entries_;
  const uint64_t capacity_;
  SharedWord* const count_word_;
  const SharedWord* const peer_consumed_;
  const Visibility* const visibility_;
  const size_t max_waiting_;
  uint64_t count_ = 0;  // what this side has published in *count_word_
  std::deque<uint64_t> waiting_;
};

// The sender's half, over the receiver's segment (read-only) and its own
// peer_released_consumed. Not thread-safe: its owner serializes calls.
class ReleasedListReader {
 public:
  ReleasedListReader(const SharedWord* entries, uint64_t capacity, const SharedWord* peer_count,
                     SharedWord* consumed, const Visibility* visibility)
      : entries_(entries),
        capacity_(capacity),
        peer_count_(peer_count),
        consumed_word_(consumed),
        visibility_(visibility) {}
  ReleasedListReader(const ReleasedListReader&) = delete;
  ReleasedListReader& operator=(const ReleasedListReader&) = delete;

  // Appends to `offsets` every offset the receiver released since the last call, each read once,
  // and publishes that they are taken. The offsets are the receiver's word: the caller checks each
  // against the blocks it handed out. False, with nothing taken, if the receiver's count is one it
  // cannot have written (behind what was taken, or more than the list holds ahead of it).
  bool Take(std::vector<uint64_t>* offsets);

 private:
  const SharedWord* const entries_;
  const uint64_t capacity_;
  const SharedWord* const peer_count_;
  SharedWord* const consumed_word_;
  const Visibility* const visibility_;
  uint64_t consumed_ = 0;  // what this side has published in *consumed_word_
};

}  // namespace notnets::internal

#endif  // NOTNETS_CHANNEL_RELEASED_LIST_H_
