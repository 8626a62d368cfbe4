// What a channel reads of one replica's load: its workers and how many of them run a handler
// now, from the counters its server alone writes (pool/counters_layout.h).
#ifndef NOTNETS_RPC_REPLICA_LOAD_H_
#define NOTNETS_RPC_REPLICA_LOAD_H_

#include <atomic>
#include <cstdint>

#include "pool/allocator.h"
#include "pool/counters_layout.h"
#include "pool/directory.h"
#include "pool/pool_mapping.h"

namespace notnets::internal {

class ReplicaLoad {
 public:
  // Most worker slabs read per look: past this many workers a replica counts as that many.
  static constexpr uint32_t kMaxSlabsRead = 64;

  // The load of the server of directory entry `ref`.
  ReplicaLoad(PoolMapping* mapping, const ServiceRef& ref);

  // The replica's workers and those running a handler, as published a moment ago; false (and
  // both left alone) while its server has not published its counters, or if they are corrupt.
  bool Read(uint32_t* workers, uint32_t* busy);

 private:
  // Finds and validates the counters block once the server published it.
  bool Resolve();

  PoolMapping* mapping_;
  ServiceRef ref_;
  // Set once by Resolve; the block stays mapped for the pool's life, and stale values only
  // mislead a choice between replicas.
  std::atomic<const CounterSlab*> slabs_{nullptr};
  std::atomic<uint32_t> workers_{0};
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_REPLICA_LOAD_H_
