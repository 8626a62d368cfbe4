// The instructions that move bytes between this CPU's caches and memory: what the visibility
// primitives (shared_memory.h) run in CoherenceMode::kWriteBackInvalidate, where another host may
// read the memory without seeing this host's caches. Chosen once, at run time, from what the CPU
// offers.
#ifndef NOTNETS_POOL_CACHE_LINES_H_
#define NOTNETS_POOL_CACHE_LINES_H_

#include <cstddef>

namespace notnets::internal {

// Writes every cache line of [data, data+size) that this CPU holds modified back to memory and
// returns once the writes are complete, so that memory holds what this thread stored there. The
// lines may stay cached. x86: `clwb` if the CPU has it, else `clflushopt`, else `clflush`, then
// `sfence`. aarch64: `dc cvac` per line, then `dsb sy`.
void WriteBackCacheLines(const void* data, size_t size);

// Writes back and drops every cache line of [data, data+size), and returns once that is done, so
// that the next read of it fetches what memory holds now. x86: `clflushopt` if the CPU has it,
// else `clflush`, then `mfence`. aarch64: `dc civac` per line, then `dsb sy`.
void InvalidateCacheLines(const void* data, size_t size);

// Starts dropping the cache line holding `address` (writing it back if modified) and returns at
// once: a later read fetches the line from memory, or, if the drop has not completed yet, finds it
// cached still. For polling: x86 `clflushopt` (`clflush` without it), aarch64 `dc civac`, both
// without a fence.
void DropCacheLine(const void* address);

// The instructions the three functions above use in this process, for reports: for example
// "clwb / clflushopt". Architectures without them get only a full fence, which is correct on
// coherent memory alone: "fence only (coherent memory only)".
const char* CacheLineInstructions();

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_CACHE_LINES_H_
