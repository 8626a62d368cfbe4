#include "channel/released_list.h"

#include <algorithm>

namespace notnets::internal {

void ReleasedListWriter::Release(uint64_t offset) {
  if (waiting_.size() < max_waiting_) waiting_.push_back(offset);
  Flush();
}

size_t ReleasedListWriter::Flush() {
  if (waiting_.empty()) return 0;
  // Read once. A sender that claims to have taken more than was published, or that lags by more
  // than the list holds, breaks only its own supply of blocks: nothing more is appended for it.
  uint64_t consumed = visibility_->Consume(peer_consumed_);
  if (consumed > count_ || count_ - consumed > capacity_) return waiting_.size();
  uint64_t room = capacity_ - (count_ - consumed);
  auto appended = static_cast<uint64_t>(std::min<size_t>(room, waiting_.size()));
  if (appended == 0) return waiting_.size();
  for (uint64_t i = 0; i < appended; ++i) {
    entries_[(count_ + i) % capacity_].store(waiting_.front(), std::memory_order_relaxed);
    waiting_.pop_front();
  }
  // The entries may wrap around the ring's end: at most two ranges.
  uint64_t first = count_ % capacity_;
  uint64_t before_end = std::min(appended, capacity_ - first);
  visibility_->WriteBack(entries_ + first, before_end * sizeof(SharedWord));
  if (appended > before_end) {
    visibility_->WriteBack(entries_, (appended - before_end) * sizeof(SharedWord));
  }
  count_ += appended;
  visibility_->Publish(count_word_, count_);
  return waiting_.size();
}

bool ReleasedListReader::Take(std::vector<uint64_t>* offsets) {
  uint64_t count = visibility_->Consume(peer_count_);
  if (count < consumed_ || count - consumed_ > capacity_) return false;
  uint64_t taken = count - consumed_;
  if (taken == 0) return true;
  uint64_t first = consumed_ % capacity_;
  uint64_t before_end = std::min(taken, capacity_ - first);
  visibility_->Invalidate(entries_ + first, before_end * sizeof(SharedWord));
  if (taken > before_end) {
    visibility_->Invalidate(entries_, (taken - before_end) * sizeof(SharedWord));
  }
  for (uint64_t i = 0; i < taken; ++i) {
    offsets->push_back(entries_[(consumed_ + i) % capacity_].load(std::memory_order_relaxed));
  }
  consumed_ = count;
  visibility_->Publish(consumed_word_, consumed_);
  return true;
}

}  // namespace notnets::internal
