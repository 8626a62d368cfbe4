#include "rpc/buffer_cache.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "pool/fence.h"

namespace notnets::internal {

Status ProcessMemoryExhausted(const PoolMapping& mapping, uint64_t bytes) {
  const ProcessQuota& quota = mapping.quota();
  return Status(StatusCode::RESOURCE_EXHAUSTED,
                "the channels of this process hold " + std::to_string(quota.bytes()) +
                    " bytes of pool " + mapping.path() + ", and " + std::to_string(bytes) +
                    " more would pass its quota of " + std::to_string(quota.max_bytes()) +
                    " bytes (PoolOptions::max_process_memory_bytes); release messages or close "
                    "channels, or raise the quota in the PoolOptions given to Pool::Attach");
}

BufferCache::~BufferCache() {
  Drain();
  // The arena's memory goes with the connection's segment.
  if (sender_ != nullptr) Count(-static_cast<int64_t>(sender_->made_real()));
}

void BufferCache::SetQuota(ProcessQuota* process, uint64_t max_bytes, std::string owner) {
  process_ = process;
  max_bytes_ = max_bytes;
  owner_ = std::move(owner);
}

void BufferCache::UseArenas(const ConnectionView& view, Side side, std::string option) {
  const Visibility* visibility = &allocator_.mapping()->visibility();
  sender_ = SenderArenaOf(
      view, side, visibility, [this](uint64_t bytes) { return Charge(bytes); }, std::move(option));
  receiver_ = ReceiverArenaOf(view, side, visibility);
}

void BufferCache::PeerSegmentMapped() {
  if (sender_ == nullptr) return;
  MutexLock lock(&sender_mutex_);
  sender_->PeerMapped();
}

void BufferCache::Drain() {
  drained_.store(true);
  SequentialFence();
  FreeCached();
}

void BufferCache::FreeCached() {
  // A fenced process's blocks were reclaimed by its peers, perhaps handed out again: hands off.
  if (!allocator_.mapping()->lease().MayWrite(epoch_)) return;
  for (uint32_t i = 0; i < kSizeClassCount; ++i) {
    uint64_t block_offset;
    while (allocator_.Pop(&heads_[i], &block_offset)) {
      counts_[i].fetch_sub(1, std::memory_order_relaxed);
      Count(-static_cast<int64_t>(BlockBytes(i + kMinBlockShift)));
      allocator_.Free(block_offset);
    }
  }
}

Status BufferCache::Charge(uint64_t bytes) {
  if (process_ == nullptr) return Status::OK;
  if (held_.load(std::memory_order_relaxed) + static_cast<int64_t>(bytes) >
      static_cast<int64_t>(max_bytes_)) {
    FreeCached();
  }
  int64_t held = held_.load(std::memory_order_relaxed);
  if (held + static_cast<int64_t>(bytes) > static_cast<int64_t>(max_bytes_)) {
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  owner_ + " holds " + std::to_string(held) + " bytes of the pool, and " +
                      std::to_string(bytes) + " more would pass its quota of " +
                      std::to_string(max_bytes_) +
                      " bytes (ChannelOptions::max_memory_bytes); release messages sooner, or "
                      "raise the quota");
  }
  if (!process_->Charge(bytes)) {
    FreeCached();
    if (!process_->Charge(bytes)) return ProcessMemoryExhausted(*allocator_.mapping(), bytes);
  }
  held_.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  return Status::OK;
}

Status BufferCache::AllocateBlock(uint64_t payload_bytes, uint64_t* block_offset) {
  if (sender_ != nullptr) {
    MutexLock lock(&sender_mutex_);
    uint64_t capacity;
    return sender_->Allocate(std::max<uint64_t>(payload_bytes, 1), block_offset, &capacity);
  }
  uint32_t size_class = SizeClassFor(payload_bytes);
  while (size_class != 0 && allocator_.Pop(&heads_[size_class - kMinBlockShift], block_offset)) {
    counts_[size_class - kMinBlockShift].fetch_sub(1, std::memory_order_relaxed);
    // A cached block is ours, but its header is in shared memory: check nobody resized it.
    if (allocator_.ValidSizeClass(*block_offset) == size_class) return Status::OK;
  }
  // A block the heap could never hold fails with the allocator's message, not a quota's.
  const PoolMapping& mapping = *allocator_.mapping();
  if (size_class == 0 || BlockBytes(size_class) > mapping.heap_end() - mapping.heap_offset()) {
    return allocator_.Allocate(payload_bytes, endpoint_, block_offset);
  }
  Status status = Charge(BlockBytes(size_class));
  if (!status.ok()) return status;
  status = allocator_.Allocate(payload_bytes, endpoint_, block_offset);
  if (!status.ok()) Count(-static_cast<int64_t>(BlockBytes(size_class)));
  return status;
}

Status BufferCache::Allocate(uint64_t payload_bytes, MessageBuffer* buffer) {
  uint64_t block_offset;
  uint64_t capacity;
  if (sender_ != nullptr) {
    MutexLock lock(&sender_mutex_);
    Status status =
        sender_->Allocate(std::max<uint64_t>(payload_bytes, 1), &block_offset, &capacity);
    if (!status.ok()) return status;
  } else {
    Status status = AllocateBlock(payload_bytes, &block_offset);
    if (!status.ok()) return status;
    capacity = Allocator::PayloadCapacity(
        Allocator::SizeClassOf(allocator_.mapping()->At<BlockHeader>(block_offset)));
  }
  MessageBuffer fresh;
  fresh.cache_ = shared_from_this();
  fresh.offset_ = block_offset;
  fresh.data_ = PayloadOf(block_offset);
  fresh.capacity_ = capacity;
  fresh.size_ = payload_bytes;
  *buffer = std::move(fresh);
  return Status::OK;
}

Status BufferCache::AllocateMetadata(uint64_t bytes, uint64_t* block_offset, uint8_t** data) {
  if (sender_ == nullptr) {
    Status status = AllocateBlock(bytes, block_offset);
    if (status.ok()) *data = PayloadOf(*block_offset);
    return status;
  }
  // A descriptor names metadata by offset alone: in an arena, its length goes before it.
  Status status = AllocateBlock(sizeof(uint64_t) + bytes, block_offset);
  if (status.ok()) *data = PayloadOf(*block_offset) + sizeof(uint64_t);
  return status;
}

void BufferCache::PublishMetadata(uint64_t block_offset, uint64_t bytes, uint64_t reader) {
  if (sender_ == nullptr) {
    PublishBlock(block_offset, bytes, reader);
    return;
  }
  std::memcpy(PayloadOf(block_offset), &bytes, sizeof(bytes));
  PublishBlock(block_offset, sizeof(bytes) + bytes, reader);
}

const uint8_t* BufferCache::PublishedPayload(uint64_t block_offset, uint64_t length) {
  MutexLock lock(&sender_mutex_);
  if (sender_ == nullptr || sender_->CapacityOf(block_offset) < std::max<uint64_t>(length, 1)) {
    return nullptr;
  }
  return sender_->At(block_offset);
}

void BufferCache::ReleaseReceived(uint64_t block_offset) {
  if (receiver_ == nullptr) {
    Release(block_offset);
    return;
  }
  MutexLock lock(&receiver_mutex_);
  receiver_->Release(block_offset);
}

void BufferCache::Release(uint64_t block_offset) {
  if (sender_ != nullptr) {
    MutexLock lock(&sender_mutex_);
    sender_->Free(block_offset);
    return;
  }
  uint32_t size_class = allocator_.ValidSizeClass(block_offset);
  if (size_class == 0) return;  // a header a peer broke: leave the block alone
  if (!allocator_.mapping()->lease().MayWrite(epoch_)) return;  // fenced: the block is not ours now
  uint32_t index = size_class - kMinBlockShift;
  if (drained_.load(std::memory_order_relaxed)) {
    Count(-static_cast<int64_t>(BlockBytes(size_class)));
    allocator_.Free(block_offset);
    return;
  }
  if (counts_[index].fetch_add(1, std::memory_order_relaxed) >= Limit(size_class)) {
    counts_[index].fetch_sub(1, std::memory_order_relaxed);
    Count(-static_cast<int64_t>(BlockBytes(size_class)));
    allocator_.Free(block_offset);
    return;
  }
  auto* block = allocator_.mapping()->At<BlockHeader>(block_offset);
  block->ownership.store(BlockOwnership(endpoint_, BlockState::kOwned), std::memory_order_relaxed);
  allocator_.Push(&heads_[index], block_offset);
  SequentialFence();
  if (drained_.load()) Drain();  // Drain may have emptied the cache just before the push
}

void BufferCache::PublishBlock(uint64_t block_offset, uint64_t length, uint64_t reader) {
  const Visibility& visibility = allocator_.mapping()->visibility();
  // A block of an arena stays this side's: it comes back when the reader releases it, and
  // SenderArena::Allocate takes it over again.
  if (sender_ != nullptr) AnnotateHandOff(sender_->At(block_offset));
  if (sender_ == nullptr) {
    if (process_ != nullptr) {
      if (uint32_t size_class = allocator_.ValidSizeClass(block_offset); size_class != 0) {
        Count(-static_cast<int64_t>(BlockBytes(size_class)));
      }
    }
    auto* block = allocator_.mapping()->At<BlockHeader>(block_offset);
    block->ownership.store(BlockOwnership(reader, BlockState::kPublished),
                           std::memory_order_relaxed);
    AnnotateHandOff(block);
    visibility.WriteBack(block, kBlockHeaderBytes);
  }
  visibility.WriteBack(PayloadOf(block_offset), length);
}

BlockPayload BufferCache::Publish(MessageBuffer* buffer, uint64_t reader) {
  BlockPayload payload{buffer->offset_, buffer->size_};
  PublishBlock(buffer->offset_, buffer->size_, reader);
  buffer->cache_ = nullptr;
  buffer->data_ = nullptr;
  buffer->capacity_ = 0;
  buffer->size_ = 0;
  return payload;
}

const uint8_t* BufferCache::AdoptWhole(uint64_t block_offset, uint64_t* capacity) {
  return Take(block_offset, kWholeBlock, capacity);
}

const uint8_t* BufferCache::Adopt(uint64_t block_offset, uint64_t length) {
  uint64_t capacity = 0;
  return Take(block_offset, length, &capacity);
}

const uint8_t* BufferCache::ReadInArena(uint64_t block_offset, uint64_t length,
                                        uint64_t* capacity) {
  {
    // Releases that found the list full go out now that the sender may have taken some.
    MutexLock lock(&receiver_mutex_);
    receiver_->Flush();
  }
  if (length != kWholeBlock) {
    *capacity = length;
    return receiver_->Read(block_offset, length);
  }
  const uint8_t* prefix = receiver_->Read(block_offset, sizeof(uint64_t));
  if (prefix == nullptr) return nullptr;
  uint64_t bytes;
  std::memcpy(&bytes, prefix, sizeof(bytes));  // read once: the sender may be rewriting it
  if (bytes > kMaxArenaBytes) return nullptr;
  const uint8_t* whole = receiver_->Read(block_offset, sizeof(bytes) + bytes);
  if (whole == nullptr) return nullptr;
  *capacity = bytes;
  return whole + sizeof(bytes);
}

const uint8_t* BufferCache::Take(uint64_t block_offset, uint64_t length, uint64_t* capacity) {
  if (receiver_ != nullptr) return ReadInArena(block_offset, length, capacity);
  const Visibility& visibility = allocator_.mapping()->visibility();
  if (allocator_.mapping()->InHeap(block_offset, kBlockHeaderBytes)) {
    visibility.Invalidate(allocator_.mapping()->At<BlockHeader>(block_offset), kBlockHeaderBytes);
  }
  BlockHeader* block = allocator_.ValidBlock(block_offset, capacity);
  if (block == nullptr || block->ownership.load(std::memory_order_relaxed) !=
                              BlockOwnership(endpoint_, BlockState::kPublished)) {
    return nullptr;
  }
  // From here the payload is ours to read.
  AnnotateTakeOver(block);
  auto size_class = static_cast<uint32_t>(std::bit_width(*capacity + kBlockHeaderBytes) - 1);
  if (allocator_.Overlaps(block_offset, size_class)) return nullptr;
  block->ownership.store(BlockOwnership(endpoint_, BlockState::kOwned), std::memory_order_relaxed);
  // Heap walks of other processes (reclaim, orphans) judge the block by its owner.
  visibility.WriteBack(block, kBlockHeaderBytes);
  Count(static_cast<int64_t>(*capacity + kBlockHeaderBytes));
  if (length != kWholeBlock && length > *capacity) {
    // Ours now, but the message does not fit its block: refuse it and keep the block.
    Release(block_offset);
    return nullptr;
  }
  // Only the bytes the message holds: a write-back or invalidate costs hundreds of nanoseconds a
  // line on memory without coherence.
  const uint8_t* payload = PayloadOf(block_offset);
  visibility.Invalidate(payload, length == kWholeBlock ? *capacity : length);
  return payload;
}

bool BufferCache::AdoptMessage(const BlockPayload& payload, ReceivedMessage* message) {
  const uint8_t* data = Adopt(payload.block_offset, payload.length);
  if (data == nullptr) return false;
  message->Release();
  message->cache_ = shared_from_this();
  message->offset_ = payload.block_offset;
  message->pool_data_ = data;
  message->size_ = payload.length;
  return true;
}

void BufferCache::InlineMessage(const uint8_t (&bytes)[kInlineMessageBytes], size_t length,
                                ReceivedMessage* message) {
  static_assert(kInlineMessageBytes <= ReceivedMessage::kInlineCapacity);
  message->Release();
  // All of them: a fixed-size copy is a couple of instructions, one of `length` bytes a call.
  std::memcpy(message->inline_, bytes, kInlineMessageBytes);
  message->size_ = length;
}

}  // namespace notnets::internal
