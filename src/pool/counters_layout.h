// The counters a server keeps for each of its services, in a heap block that it alone writes and
// that the `notnets` command reads without stopping it.
//
//   [CountersHeader][CounterSlab: worker 0]...[CounterSlab: worker n-1][CounterSlab: asynchronous]
//
// Each worker thread writes its own slab with plain stores of values it keeps in process memory
// (never a read-modify-write of shared memory), so counting costs a call a few stores to a line
// no other thread touches. Asynchronous calls finish on any thread; their finish is counted in the
// last slab, under a lock of the server process. A reader adds the slabs up. Its snapshot may be
// torn (one counter from before a call, the next from after): every counter only grows, so a
// reader that takes differences between snapshots sees at worst a call one snapshot late.
#ifndef NOTNETS_POOL_COUNTERS_LAYOUT_H_
#define NOTNETS_POOL_COUNTERS_LAYOUT_H_

#include <cstddef>
#include <cstdint>

#include "pool/shared_memory.h"

namespace notnets::internal {

// "CNT1" read as a little-endian word.
inline constexpr uint32_t kCountersMagic = 0x31544e43;
// gRPC's status codes, OK (0) to UNAUTHENTICATED (16).
inline constexpr uint32_t kCountedStatusCodes = 17;
// Calls of which one is timed for the latency histogram (the first of each run of this many in a
// slab): the histogram is a sample of the calls.
inline constexpr uint64_t kLatencySampleEvery = 16;
// Bucket b counts calls that took [2^b, 2^(b+1)) nanoseconds (bucket 0 also 0 ns, the last one
// everything longer): 2^40 ns is over 18 minutes.
inline constexpr uint32_t kLatencyBuckets = 40;
// At most 1024 workers (ServerBuilder's limit) and the asynchronous slab.
inline constexpr uint32_t kMaxCounterSlabs = 1025;

// The bucket of a call that took `nanoseconds`.
inline uint32_t LatencyBucket(uint64_t nanoseconds) {
  if (nanoseconds < 2) return 0;
  uint32_t bucket = 63 - static_cast<uint32_t>(__builtin_clzll(nanoseconds));
  return bucket < kLatencyBuckets ? bucket : kLatencyBuckets - 1;
}

struct alignas(kCacheLineBytes) CountersHeader {
  uint32_t magic;       // kCountersMagic
  uint32_t slab_count;  // worker_count + 1
  uint32_t worker_count;
  uint32_t server_uid;       // the server process's effective user
  uint64_t started_unix_ns;  // when the server started (informative only)
  // Connections the server holds open now for this service.
  SharedWord connections_open;
  uint8_t reserved[kCacheLineBytes - 32];
};
static_assert(sizeof(CountersHeader) == 64);
static_assert(offsetof(CountersHeader, started_unix_ns) == 16);
static_assert(offsetof(CountersHeader, connections_open) == 24);

struct alignas(kCacheLineBytes) CounterSlab {
  SharedWord calls_started;   // requests taken to run
  SharedWord calls_finished;  // calls answered, counted just before the response is sent
  SharedWord busy;            // 1 while a worker runs a handler; 0 in the asynchronous slab
  SharedWord latency_sum_ns;  // the time of all timed calls
  SharedWord by_code[kCountedStatusCodes];  // finished calls by status code
  // Timed calls (kLatencySampleEvery) by LatencyBucket of their time, from a worker taking the
  // request to the response ready to send.
  SharedWord latency[kLatencyBuckets];
  SharedWord reserved1[3];
};
static_assert(sizeof(CounterSlab) == 512);
static_assert(offsetof(CounterSlab, by_code) == 32);
static_assert(offsetof(CounterSlab, latency) == 168);

// Payload bytes of a counters block with `slab_count` slabs.
inline uint64_t CountersBytes(uint32_t slab_count) {
  return sizeof(CountersHeader) + uint64_t{slab_count} * sizeof(CounterSlab);
}

// Where a service's counters are: the part of its directory entry (ServiceEntry::counters) that
// the counters added, apart so that other additions to the entry merge without conflict.
struct alignas(kCacheLineBytes) ServiceCountersRef {
  // Pool offset of the counters block, published by the server after it wrote the header; 0:
  // none (not yet, or the pool had no room for it).
  SharedWord block_offset;
  uint8_t reserved[kCacheLineBytes - sizeof(SharedWord)];
};
static_assert(sizeof(ServiceCountersRef) == 64);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_COUNTERS_LAYOUT_H_
