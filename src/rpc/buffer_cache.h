// One connection side's cache of free pool blocks, so that calls rarely touch the pool-wide
// allocator: a block the peer releases comes back here and is reused for the next message.
#ifndef NOTNETS_RPC_BUFFER_CACHE_H_
#define NOTNETS_RPC_BUFFER_CACHE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "channel/descriptor.h"
#include "notnets/message.h"
#include "notnets/pool.h"
#include "notnets/status.h"
#include "pool/allocator.h"
#include "pool/layout.h"
#include "pool/pool_access.h"

namespace notnets::internal {

// Shared by its connection and by every message that holds one of its blocks, so that a message
// may outlive its Channel or Server; it keeps the pool mapped for them.
class BufferCache : public std::enable_shared_from_this<BufferCache> {
 public:
  // Blocks are owned by `endpoint` while in this cache or being written. `epoch`: the pool
  // lease's epoch the endpoint's connection was made in; the cache frees nothing after it.
  BufferCache(std::shared_ptr<Pool> pool, uint64_t endpoint, uint64_t epoch)
      : pool_(std::move(pool)),
        allocator_(&PoolAccess::mapping(*pool_)),
        endpoint_(endpoint),
        epoch_(epoch) {}
  // Returns every cached block to the pool.
  ~BufferCache();
  BufferCache(const BufferCache&) = delete;
  BufferCache& operator=(const BufferCache&) = delete;

  // Counts the bytes of the blocks this endpoint holds (writing, received and kept, cached)
  // against `max_bytes` and against the process's quota, which `process` counts; `owner` names
  // the endpoint in messages. For a client's endpoint, before the cache is used; a server's
  // endpoint counts nothing.
  void SetQuota(ProcessQuota* process, uint64_t max_bytes, std::string owner);

  // A block whose payload holds `payload_bytes`, owned by this endpoint. Thread-safe.
  // RESOURCE_EXHAUSTED naming the quota if a new block would pass one (SetQuota).
  Status AllocateBlock(uint64_t payload_bytes, uint64_t* block_offset);
  // The same, wrapped for the user to write in place.
  Status Allocate(uint64_t payload_bytes, MessageBuffer* buffer);

  // Puts a block this endpoint owns back in the cache, or in the pool if the cache is full or
  // drained.
  void Release(uint64_t block_offset);

  // Returns every cached block to the pool, and from now on caches nothing: a block released
  // later goes straight to the pool. For a connection that is gone while the application may
  // still hold messages of it. Thread-safe.
  void Drain();

  // Hands the block to endpoint `reader`: after this, only the reader may touch it.
  void PublishBlock(uint64_t block_offset, uint64_t length, uint64_t reader);
  // Publishes a user's buffer and returns where it is; the buffer becomes empty.
  BlockPayload Publish(MessageBuffer* buffer, uint64_t reader);

  // Validates a block the peer published to this endpoint (read once, bounds-checked) holding a
  // message of `length` bytes, takes ownership, and returns its payload; nullptr if it does not
  // validate (a block that was ours to take but too small for `length` is released).
  const uint8_t* Adopt(uint64_t block_offset, uint64_t length);
  // The same for a block read whole (metadata): `*capacity` gets its payload bytes.
  const uint8_t* AdoptWhole(uint64_t block_offset, uint64_t* capacity);
  // Wraps a validated payload for the user (ReceivedMessage releases it back here).
  bool AdoptMessage(const BlockPayload& payload, ReceivedMessage* message);
  // Wraps the first `length` (at most kInlineMessageBytes) inline bytes of a descriptor (copied)
  // for the user.
  static void InlineMessage(const uint8_t (&bytes)[kInlineMessageBytes], size_t length,
                            ReceivedMessage* message);

  uint8_t* PayloadOf(uint64_t block_offset) const {
    return allocator_.mapping()->At<uint8_t>(block_offset + kBlockHeaderBytes);
  }
  uint64_t endpoint() const { return endpoint_; }

 private:
  // Passed to Take for a block read whole.
  static constexpr uint64_t kWholeBlock = ~uint64_t{0};
  // Adopt and AdoptWhole: validates and takes the block, and invalidates the `length` bytes of
  // it that will be read (kWholeBlock: all of its `*capacity`).
  const uint8_t* Take(uint64_t block_offset, uint64_t length, uint64_t* capacity);
  static uint32_t Limit(uint32_t size_class) { return size_class <= 16 ? 32 : 2; }
  // Counts `bytes` more (or fewer) held, if this endpoint counts.
  void Count(int64_t bytes) {
    if (process_ == nullptr) return;
    held_.fetch_add(bytes, std::memory_order_relaxed);
    process_->Add(bytes);
  }
  // Counts a block of `bytes` about to be taken from the pool; a non-OK status if a quota would
  // pass (the cache is emptied first, since cached blocks count too).
  Status Charge(uint64_t bytes);
  // Returns every cached block to the pool.
  void FreeCached();

  std::shared_ptr<Pool> pool_;
  Allocator allocator_;
  uint64_t endpoint_;
  const uint64_t epoch_;
  std::array<std::atomic<uint64_t>, kSizeClassCount> heads_{};
  std::array<std::atomic<uint32_t>, kSizeClassCount> counts_{};
  // Set by Drain. Release pushes a block and then reads it, Drain sets it and then pops (both
  // sequentially consistent): a block pushed after Drain's pops is popped again by Release.
  std::atomic<bool> drained_{false};
  ProcessQuota* process_ = nullptr;  // set once by SetQuota, before use
  uint64_t max_bytes_ = 0;
  std::string owner_;
  std::atomic<int64_t> held_{0};
};

// RESOURCE_EXHAUSTED: `bytes` more would pass the process's quota of memory in `mapping`'s pool.
Status ProcessMemoryExhausted(const PoolMapping& mapping, uint64_t bytes);

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_BUFFER_CACHE_H_
