// A test mode in which this process sees every pool through a cache that is not coherent with
// the other processes' (docs/noncoherent.md).
//
// With NOTNETS_CACHE_SIMULATOR=1 in the environment of a NOTNETS_FAULT_INJECTION build, each pool
// mapping hands the code a private anonymous copy of the pool instead of the shared mapping. Only
// the visibility primitives (shared_memory.h) move bytes between the copy and the shared memory,
// one 64-byte line at a time, and a background thread writes dirty lines back at random moments,
// as caches evict. Read-modify-write atomics work on the shared memory itself (memory that offers
// atomics to all its users) and are counted. Other builds compile all of it out.
#ifndef NOTNETS_POOL_CACHE_SIMULATOR_H_
#define NOTNETS_POOL_CACHE_SIMULATOR_H_

#include <cstddef>
#include <cstdint>

#include "pool/shared_memory.h"

namespace notnets::internal {

// True if this process runs under the simulator. Decided once, from the environment.
bool CacheSimulatorEnabled();

// Starts simulating a cache over `size` bytes mapped shared at `shared`; returns the base the
// code must use from now on (`shared` itself when the simulator is off). The copy starts with
// what the first `copied_bytes` of the shared memory hold now, and zeros past them, as a cache
// may hold lines from before (zeros: from before anything was written there). Past
// `copied_bytes` the shared range need not be mapped yet, nor readable without cost (a sparse
// file's holes), until the code reaches it.
uint8_t* BeginSimulatedCache(uint8_t* shared, uint64_t size, uint64_t copied_bytes);
// The shared memory behind [data, data + size) of a simulated copy was just mapped anew (a
// segment grew, or its file replaced a placeholder): the cache holds no line of the memory it
// held before, so the copy takes what the new memory holds (its pages with no memory behind them,
// a sparse file's holes, are zeros the copy already holds, and are not read: reading a hole would
// make it memory). Nothing if the simulator is off.
void ForgetSimulatedLines(const void* data, size_t size);
// Stops simulating the copy at `base` (a result of BeginSimulatedCache) and returns the shared
// mapping to unmap. Dirty lines are dropped: nothing guarantees they ever reach memory.
uint8_t* EndSimulatedCache(uint8_t* base);

// The address in the shared mapping that `address` in a simulated copy stands for (`address`
// when it lies in none): for what must reach the other processes' memory directly (atomics at
// memory, futexes).
void* SharedAddressOf(const void* address);

// The simulated halves of the primitives of shared_memory.h. Each returns false (and does
// nothing) if the address lies in no simulated copy.
bool SimulatedPublish(SharedWord* word, uint64_t value);
bool SimulatedConsume(const SharedWord* word, uint64_t* value);
bool SimulatedWriteBack(const void* data, size_t size);
bool SimulatedInvalidate(const void* data, size_t size);
// After an atomic at memory on `word` (through SharedAddressOf) left `value` there: this
// process's copy of the word takes it, unless the process stored to the copy since.
void SimulatedAtomicDone(SharedWord* word, uint64_t value);

// How many atomics at memory (read-modify-writes and ordered loads) this process made on
// simulated pools: what a mode without atomics across hosts would have to do without.
uint64_t SimulatedAtomicCount();

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_CACHE_SIMULATOR_H_
