// A block: the unit the pool's heap is made of, holding one message buffer or one connection.
//
// The heap is a sequence of blocks from heap_offset up to heap_top, each starting with a
// BlockHeader that gives its size, so the heap can be walked. A block is 2^size_class bytes.
#ifndef NOTNETS_POOL_BLOCK_H_
#define NOTNETS_POOL_BLOCK_H_

#include <cstdint>

#include "pool/layout.h"
#include "pool/shared_memory.h"

namespace notnets::internal {

// "BLK1" in the top half of BlockHeader::format.
inline constexpr uint64_t kBlockMagic = 0x314b4c42ull;

// Who may touch a block. Only the owner writes it; publishing hands a block to its reader.
enum class BlockState : uint8_t {
  kFree = 0,       // in a free list of the pool
  kOwned = 1,      // owned by `owner`: being written, or cached for reuse
  kPublished = 2,  // handed to reader `owner`, immutable until it releases it
};

struct alignas(kCacheLineBytes) BlockHeader {
  // kBlockMagic << 32 | size_class; rewritten only while the block is free (when split).
  SharedWord format;
  // owner << 8 | BlockState. Owners are endpoint ids (EndpointId), 0 for none.
  SharedWord ownership;
  // Free-list link while the block is free or cached: pool offset of the next block, 0 for none.
  SharedWord next_free;
  // While the block is free: the liveness token of the process taking it (off every list, not yet
  // owned), else 0. Once owned: the token of the process that allocated a connection block, 0 for
  // any other block, so that a connection whose client died before it wrote the connection's
  // header can still be told from one a live client is making.
  SharedWord creator;
  uint8_t reserved[kCacheLineBytes - 4 * sizeof(SharedWord)];
};
static_assert(sizeof(BlockHeader) == kCacheLineBytes);
inline constexpr uint64_t kBlockHeaderBytes = sizeof(BlockHeader);

inline uint64_t BlockFormat(uint32_t size_class) { return kBlockMagic << 32 | size_class; }
inline uint64_t BlockOwnership(uint64_t owner, BlockState state) {
  return owner << 8 | static_cast<uint8_t>(state);
}
inline uint64_t BlockBytes(uint32_t size_class) { return 1ull << size_class; }

// The smallest size class whose blocks hold `payload_bytes` after the header, or 0 if none.
uint32_t SizeClassFor(uint64_t payload_bytes);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_BLOCK_H_
