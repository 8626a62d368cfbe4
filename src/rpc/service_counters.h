// The writer of one service's counters (pool/counters_layout.h): the server process alone writes
// them, each slab from one thread, so that counting is a few stores on the call path.
#ifndef NOTNETS_RPC_SERVICE_COUNTERS_H_
#define NOTNETS_RPC_SERVICE_COUNTERS_H_

#include <cstdint>
#include <memory>

#include "notnets/status.h"
#include "pool/allocator.h"
#include "pool/counters_layout.h"
#include "pool/directory.h"
#include "pool/pool_mapping.h"

namespace notnets::internal {

class ServiceCounters {
 public:
  // Allocates the counters of the service registered as `ref`, for `workers` worker threads, and
  // publishes them in its directory entry. When the pool has no room, the counters are kept in
  // this process only: serving never fails for want of them.
  ServiceCounters(PoolMapping* mapping, Allocator* allocator, const Directory& directory,
                  const ServiceRef& ref, uint32_t workers);
  ServiceCounters(const ServiceCounters&) = delete;
  ServiceCounters& operator=(const ServiceCounters&) = delete;

  // The slab of asynchronous finishes; its writers must hold one lock of their own.
  uint32_t async_slab() const { return workers_; }

  // Each of these writes slab `slab` (a worker's index, or async_slab()), which only one thread
  // writes at a time. They Record rather than Publish: on memory without coherence a write-back
  // per counter would cost more than the call (about 400 ns each on this project's machines), so
  // the counts reach other hosts at WriteBack, which the server calls every few milliseconds.
  // A request was taken to run. True if the call is to be timed: the first of every
  // kLatencySampleEvery calls of a slab, since reading the clock costs more than all the stores
  // (about 150 ns a read on a VM's kvm-clock).
  bool CallStarted(uint32_t slab) {
    uint64_t started = ++local_[slab].calls_started;
    visibility_.Record(&shared_[slab].calls_started, started);
    return started % kLatencySampleEvery == 1;
  }
  // A worker starts or stops running a handler.
  void SetBusy(uint32_t slab, bool busy) {
    Local& local = local_[slab];
    local.busy = busy ? 1 : 0;
    visibility_.Record(&shared_[slab].busy, local.busy);
  }
  // Passed to CallFinished for a call that was not timed.
  static constexpr uint64_t kUntimed = ~uint64_t{0};

  // A call was answered with `code` after `nanoseconds` (or kUntimed).
  void CallFinished(uint32_t slab, StatusCode code, uint64_t nanoseconds) {
    Local& local = local_[slab];
    CounterSlab& shared = shared_[slab];
    uint32_t index = static_cast<uint32_t>(code);
    if (index < kCountedStatusCodes) {
      visibility_.Record(&shared.by_code[index], ++local.by_code[index]);
    }
    if (nanoseconds != kUntimed) {
      uint32_t bucket = LatencyBucket(nanoseconds);
      visibility_.Record(&shared.latency[bucket], ++local.latency[bucket]);
      visibility_.Record(&shared.latency_sum_ns, local.latency_sum_ns += nanoseconds);
    }
    // Last, so that a reader never sees more finished calls than codes and latencies.
    visibility_.Record(&shared.calls_finished, ++local.calls_finished);
  }

  // Writes every slab back, so that other hosts see the counts recorded so far.
  void WriteBack() const;

  // Calls taken to run and calls answered so far, over every slab: read from any thread (the
  // counts a worker publishes), for Drain to know when the server has gone quiet.
  uint64_t StartedSoFar() const;
  uint64_t FinishedSoFar() const;

  // The server holds `count` connections of this service now. Calls are ordered by the caller's
  // lock, so that a later count is never overwritten by an earlier one.
  void SetConnectionsOpen(uint64_t count);

 private:
  // The values last published in a slab: the writer never reads shared memory back.
  struct alignas(kCacheLineBytes) Local {
    uint64_t calls_started = 0;
    uint64_t calls_finished = 0;
    uint64_t busy = 0;
    uint64_t latency_sum_ns = 0;
    uint64_t by_code[kCountedStatusCodes] = {};
    uint64_t latency[kLatencyBuckets] = {};
  };

  const Visibility& visibility_;
  const uint32_t workers_;
  std::unique_ptr<Local[]> local_;
  // The block in the pool, or private memory when the pool had no room.
  CountersHeader* header_;
  CounterSlab* shared_;
  std::unique_ptr<uint8_t[]> private_block_;
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_SERVICE_COUNTERS_H_
