// The pool-wide block allocator: power-of-two size classes carved from the heap, with lock-free
// free lists. Used off the call path; connections keep their own caches (BufferCache).
#ifndef NOTNETS_POOL_ALLOCATOR_H_
#define NOTNETS_POOL_ALLOCATOR_H_

#include <atomic>
#include <cstdint>

#include "notnets/status.h"
#include "pool/block.h"
#include "pool/pool_mapping.h"

namespace notnets::internal {

// Heap totals, found by walking the heap.
struct HeapUsage {
  uint64_t used_bytes = 0;
  uint64_t free_bytes = 0;  // free blocks plus the never-used tail
  uint64_t blocks_in_use = 0;
  bool consistent = true;  // false if the walk met a block header that does not validate
};

// Which blocks ReclaimOwnedBy takes.
enum class BlockStates { kAny, kPublished };

class Allocator {
 public:
  explicit Allocator(PoolMapping* mapping) : mapping_(mapping) {}

  // Allocates a block whose payload holds `payload_bytes`, owned by `owner`, and returns the pool
  // offset of its header. RESOURCE_EXHAUSTED, with the size and what to do, if the pool is full.
  // `creator_token` is recorded in the block's header (BlockHeader::creator), visible to other
  // processes no later than its owner.
  Status Allocate(uint64_t payload_bytes, uint64_t owner, uint64_t* block_offset,
                  uint64_t creator_token = 0);

  // Returns a block to the pool. A block whose header no longer validates, or that overlaps
  // another block (a peer lied about its size), is left alone rather than corrupt a free list.
  void Free(uint64_t block_offset);

  // The size class of a valid block, or 0.
  uint32_t ValidSizeClass(uint64_t block_offset) const;

  // True if a block of `size_class` at `block_offset` would cover the header of a smaller block
  // where our splits put them: a peer claims a bigger block than it has.
  bool Overlaps(uint64_t block_offset, uint32_t size_class) const;

  // Validates a block offset read from shared memory: inside the heap, aligned, with a block
  // header whose magic and size fit. Returns its header, or nullptr, and in `*payload_capacity`
  // the payload bytes of the size class it validated: use that, never a second read of the
  // header, which a peer may change meanwhile.
  BlockHeader* ValidBlock(uint64_t block_offset, uint64_t* payload_capacity = nullptr) const;

  // Payload bytes a block of `size_class` holds.
  static uint64_t PayloadCapacity(uint32_t size_class) {
    return BlockBytes(size_class) - kBlockHeaderBytes;
  }
  // The size class recorded in a validated block.
  static uint32_t SizeClassOf(const BlockHeader* block) {
    return static_cast<uint32_t>(block->format.load(std::memory_order_relaxed) & 0xff);
  }

  // Lock-free stack of blocks on any head word (the pool's free lists, or a process's cache):
  // head = tag << 32 | block offset / 64.
  void Push(std::atomic<uint64_t>* head, uint64_t block_offset) const;
  // Pops a block into *block_offset; false if the stack is empty, or its head or the link after
  // it is not a block offset of the heap (a corrupt stack counts as empty).
  bool Pop(std::atomic<uint64_t>* head, uint64_t* block_offset) const;

  // Walks the heap and adds up its blocks.
  HeapUsage Usage() const;

  // Frees every block of `owner` in `states`, except `keep`: what a dead process's endpoint held,
  // or messages nobody will take. Only for owners that no live process acts for. Returns the
  // number of blocks freed.
  uint64_t ReclaimOwnedBy(uint64_t owner, uint64_t keep, BlockStates states);

  // Puts back on their free lists the blocks that processes now dead took and never gave an
  // owner: free blocks still marked as taken (BlockHeader::creator). Any process may call it, at
  // any time; each such block goes back once. Returns how many it put back.
  uint64_t ReturnBlocksOfDeadTakers();

  PoolMapping* mapping() const { return mapping_; }

 private:
  // Pops from the pool's free list of `size_class` a block that is a free block of that class;
  // blocks a scribbled link leads to are dropped, and after kMaxPopAttempts of them the class
  // counts as empty. Never follows an offset outside the heap.
  static constexpr int kMaxPopAttempts = 8;
  bool PopFree(uint32_t size_class, uint64_t* block_offset);
  // Marks a free block this process just took (off every list) as its own until Allocate gives
  // it an owner, in memory at once: a process killed meanwhile leaves it to
  // ReturnBlocksOfDeadTakers rather than lost.
  void MarkTaken(BlockHeader* block) const;
  std::atomic<uint64_t>* FreeHead(uint32_t size_class) const;
  bool Carve(uint32_t size_class, uint64_t* block_offset);
  bool Split(uint32_t size_class, uint64_t* block_offset);

  PoolMapping* mapping_;
};

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_ALLOCATOR_H_
