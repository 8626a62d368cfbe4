// The lease table: one record per process that maps the pool, each renewed by its process alone,
// so that processes on other hosts (other kernels, which cannot see each other's locks) can tell
// a live peer from a dead one without agreeing on a clock. See docs/protocol.md, "Leases".
//
//   [LeaseTableHeader, 64 bytes][kLeaseSlots x LeaseRecord, 64 bytes each]
//
// The table follows the at-most-once window (its offset is derived, not stored: see
// LeaseTableOffset), and the heap follows the table.
#ifndef NOTNETS_POOL_LEASE_TABLE_H_
#define NOTNETS_POOL_LEASE_TABLE_H_

#include <cstddef>
#include <cstdint>

#include "pool/shared_memory.h"

namespace notnets::internal {

// "LEASTBL1" read as a little-endian word.
inline constexpr uint64_t kLeaseTableMagic = 0x314c42545341454cull;
// Processes that can map one pool at once (a forked child that maps it counts apart).
inline constexpr uint32_t kLeaseSlots = 256;
// Bounds of PoolOptions::lease_period, in milliseconds: short enough to be checked several times
// per period, long enough that a renewal fits in it on a loaded machine.
inline constexpr uint64_t kMinLeasePeriodMs = 20;
inline constexpr uint64_t kMaxLeasePeriodMs = 3600 * 1000;

// Written once when the pool is created; read and checked once at attach.
struct alignas(kCacheLineBytes) LeaseTableHeader {
  uint64_t magic;      // kLeaseTableMagic
  uint64_t period_ns;  // a record that does not advance for this long is dead (observer's clock)
  uint32_t slots;      // kLeaseSlots
  uint32_t reserved0;
  uint8_t reserved1[40];
};
static_assert(sizeof(LeaseTableHeader) == 64);
static_assert(offsetof(LeaseTableHeader, period_ns) == 8);
static_assert(offsetof(LeaseTableHeader, slots) == 16);

// One process's lease. `lease` is the only word two processes may write: its owner renews it
// (CompareExchange from the value it last wrote) and an observer fences it (CompareExchange from
// the value it judged stale, adding kLeaseFenced), so that exactly one of the two wins.
struct alignas(kCacheLineBytes) LeaseRecord {
  SharedWord lease;  // kLeaseFenced | kLeaseClaiming | generation << 32 | renewal count
  SharedWord token;  // the owner's liveness token (ProcessIdentity::token)
  SharedWord host;   // the owner's host id (HostId()): who judges it by lease, who by lock
  SharedWord pid;    // the owner's pid in its own namespace, for tools and messages
  uint8_t reserved[32];
};
static_assert(sizeof(LeaseRecord) == 64);
static_assert(offsetof(LeaseRecord, lease) == 0);
static_assert(offsetof(LeaseRecord, token) == 8);
static_assert(offsetof(LeaseRecord, host) == 16);
static_assert(offsetof(LeaseRecord, pid) == 24);

// The owner left, or an observer declared it dead: the record is free, and its token is dead.
inline constexpr uint64_t kLeaseFenced = 1ull << 63;
// A process is writing token, host and pid: nobody judges or takes the record meanwhile.
inline constexpr uint64_t kLeaseClaiming = 1ull << 62;
// Bits 32..61 number the claims of a record, so that a renewal by a previous owner that comes
// back fails its CompareExchange even after the record was claimed again.
inline constexpr uint64_t kLeaseGenerationMask = ((1ull << 30) - 1) << 32;
inline constexpr uint64_t kLeaseCountMask = (1ull << 32) - 1;

// Bytes of the table.
inline constexpr uint64_t kLeaseTableBytes =
    sizeof(LeaseTableHeader) + uint64_t{kLeaseSlots} * sizeof(LeaseRecord);

// Where the table of a pool lies: right after the at-most-once window, on a cache line.
inline uint64_t LeaseTableOffset(uint64_t call_window_offset, uint64_t call_window_bytes) {
  return (call_window_offset + call_window_bytes + kCacheLineBytes - 1) / kCacheLineBytes *
         kCacheLineBytes;
}

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_LEASE_TABLE_H_
