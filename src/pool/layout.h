// The pool's header: the first bytes of every pool file, describing the rest.
//
//   [PoolHeader, 4 KiB][service directory: max_services x ServiceEntry]
//   [call window: call_window_slots x CallWindowSlot][lease table (pool/lease_table.h)]
//   [heap: blocks ...]
//
// Offsets stored anywhere in the pool are relative to the start of the pool file.
#ifndef NOTNETS_POOL_LAYOUT_H_
#define NOTNETS_POOL_LAYOUT_H_

#include <cstddef>
#include <cstdint>

#include "pool/shared_memory.h"

namespace notnets::internal {

// "NOTNETS1" read as a little-endian word.
inline constexpr uint64_t kPoolMagic = 0x315354454e544f4eull;
// Changes whenever the bytes of a pool change meaning: a process refuses a pool of another
// version. tests/layout_test.cc records the layout's fingerprint for each version and fails when
// a shared-memory struct changes without a bump.
inline constexpr uint32_t kPoolLayoutVersion = 14;
inline constexpr uint64_t kPoolHeaderBytes = 4096;
inline constexpr uint64_t kMinPoolBytes = 1ull << 20;
// Blocks are addressed by 32-bit multiples of 64 bytes in free lists.
inline constexpr uint64_t kMaxPoolBytes = 1ull << 38;

// Block sizes are 2^k bytes for k in [kMinBlockShift, kMaxBlockShift].
inline constexpr uint32_t kMinBlockShift = 8;
inline constexpr uint32_t kMaxBlockShift = 38;
inline constexpr uint32_t kSizeClassCount = kMaxBlockShift - kMinBlockShift + 1;

// State of the pool-wide block allocator. Free-list heads are tagged (tag << 32 | offset / 64)
// against ABA.
struct alignas(kCacheLineBytes) AllocatorState {
  SharedWord heap_top;  // pool offset of the first byte never handed out
  uint8_t reserved[kCacheLineBytes - sizeof(SharedWord)];
  SharedWord free_heads[kSizeClassCount];
};
static_assert(sizeof(AllocatorState) % kCacheLineBytes == 0);

struct alignas(kCacheLineBytes) PoolHeader {
  // Written last when the pool is created; a pool without it is not (yet) a pool.
  SharedWord magic;
  uint32_t layout_version;
  uint32_t header_bytes;
  uint64_t pool_bytes;
  uint32_t coherence;  // CoherenceMode
  uint32_t max_services;
  uint64_t directory_offset;
  uint64_t heap_offset;
  uint64_t heap_bytes;
  uint64_t created_unix_ns;
  uint64_t call_window_offset;  // the at-most-once window (CallWindow)
  uint32_t call_window_slots;   // 0: no window
  uint32_t reserved0;
  // FNV-1a of the fields from layout_version to reserved0: catches a corrupt header.
  uint64_t checksum;
  // Numbers connections for the pool's whole life (FetchAdd), so that the owner ids derived from
  // them are never reused.
  SharedWord connection_serial;
  uint8_t reserved1[128 - 96];
  AllocatorState allocator;
};
static_assert(offsetof(PoolHeader, magic) == 0);
static_assert(offsetof(PoolHeader, layout_version) == 8);
static_assert(offsetof(PoolHeader, pool_bytes) == 16);
static_assert(offsetof(PoolHeader, call_window_offset) == 64);
static_assert(offsetof(PoolHeader, checksum) == 80);
static_assert(offsetof(PoolHeader, connection_serial) == 88);
static_assert(offsetof(PoolHeader, allocator) == 128);
static_assert(sizeof(PoolHeader) <= kPoolHeaderBytes);

// Returns the checksum PoolHeader::checksum must hold.
uint64_t PoolHeaderChecksum(const PoolHeader& header);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_LAYOUT_H_
