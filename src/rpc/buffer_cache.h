// Where one connection side's messages live. On a connection with arenas (connection_layout.h),
// the blocks it sends come from its own direction's arena and come back through the peer's
// released list, and the blocks it receives are read in place in the peer's arena and released
// into its own list: neither side writes the other's memory. Otherwise they are pool blocks, and
// it caches free ones so that calls rarely touch the pool-wide allocator.
#ifndef NOTNETS_RPC_BUFFER_CACHE_H_
#define NOTNETS_RPC_BUFFER_CACHE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "channel/connection.h"
#include "channel/descriptor.h"
#include "notnets/message.h"
#include "notnets/pool.h"
#include "notnets/status.h"
#include "pool/allocator.h"
#include "pool/layout.h"
#include "pool/pool_access.h"
#include "rpc/mutex.h"

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

  // From now on, if `view` has arenas: sends from `side`'s arena (a message larger than it fails
  // naming `option`, the option that sizes it) and receives in the other side's. Before the cache
  // is used, after SetQuota; the quotas then count the bytes of the arena made memory.
  void UseArenas(const ConnectionView& view, Side side, std::string option);
  // A client's: the server's segment is mapped now, so what the server released can be taken.
  void PeerSegmentMapped() NOTNETS_EXCLUDES(sender_mutex_);
  // True once UseArenas found arenas: block offsets are then offsets in the sender's segment.
  bool has_arenas() const { return sender_ != nullptr; }

  // A block whose payload holds `payload_bytes`, owned by this endpoint. Thread-safe.
  // RESOURCE_EXHAUSTED naming the quota if a new block would pass one (SetQuota).
  Status AllocateBlock(uint64_t payload_bytes, uint64_t* block_offset);
  // The same, wrapped for the user to write in place.
  Status Allocate(uint64_t payload_bytes, MessageBuffer* buffer);

  // The same for encoded metadata: `*data` gets where its `bytes` go.
  Status AllocateMetadata(uint64_t bytes, uint64_t* block_offset, uint8_t** data);

  // A block of this side's that was never published comes back: to the arena, else to the
  // cache, or to the pool if the cache is full or drained.
  void Release(uint64_t block_offset);
  // A block the peer sent is done with: released to the peer through this side's released list,
  // or on a connection without arenas, taken into the cache as Release does.
  void ReleaseReceived(uint64_t block_offset);

  // Returns every cached block to the pool, and from now on caches nothing: a block released
  // later goes straight to the pool. For a connection that is gone while the application may
  // still hold messages of it. Thread-safe.
  void Drain();

  // Hands the block to endpoint `reader`: after this, only the reader may touch it (in an arena,
  // the block stays this side's, unwritten, until the reader releases it).
  void PublishBlock(uint64_t block_offset, uint64_t length, uint64_t reader);
  // The same for a block of `bytes` of metadata from AllocateMetadata.
  void PublishMetadata(uint64_t block_offset, uint64_t bytes, uint64_t reader);
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

  // Where this side writes the payload of its block at `block_offset`.
  uint8_t* PayloadOf(uint64_t block_offset) const {
    if (sender_ != nullptr) return sender_->At(block_offset);
    return allocator_.mapping()->At<uint8_t>(block_offset + kBlockHeaderBytes);
  }
  // On a connection with arenas, the `length` bytes of a block this side published and its peer
  // has not released; null if there is no such block, and always without arenas.
  const uint8_t* PublishedPayload(uint64_t block_offset, uint64_t length);
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
  // Take, from the peer's arena.
  const uint8_t* ReadInArena(uint64_t block_offset, uint64_t length, uint64_t* capacity);

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
  // Set once by UseArenas, before use; each used under its mutex (the arenas are not thread-safe).
  Mutex sender_mutex_;
  Mutex receiver_mutex_;
  std::unique_ptr<SenderArena> sender_;
  std::unique_ptr<ReceiverArena> receiver_;
};

// RESOURCE_EXHAUSTED: `bytes` more would pass the process's quota of memory in `mapping`'s pool.
Status ProcessMemoryExhausted(const PoolMapping& mapping, uint64_t bytes);

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_BUFFER_CACHE_H_
