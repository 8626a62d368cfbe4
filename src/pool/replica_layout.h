// How a directory entry takes part in a replicated service: several server processes each own
// one entry under the same name, and clients spread their calls over the live ones.
#ifndef NOTNETS_POOL_REPLICA_LAYOUT_H_
#define NOTNETS_POOL_REPLICA_LAYOUT_H_

#include <cstddef>
#include <cstdint>

#include "pool/shared_memory.h"

namespace notnets::internal {

// ServiceEntry::replica.mode values.
enum class ReplicaMode : uint64_t {
  kSole = 0,     // the only server of its name: a second one is refused (ALREADY_EXISTS)
  kReplica = 1,  // one of any number of replicas, all registered with kReplica
};

// The part of a directory entry (ServiceEntry::replica) that replicas added, in a line apart so
// that other additions to the entry merge without conflict. Written by the entry's server alone,
// before the entry turns kActive, and immutable while it is.
struct alignas(kCacheLineBytes) ReplicaRef {
  SharedWord mode;     // ReplicaMode; any other value is read as kSole
  SharedWord host_id;  // HostId() of the server process, for `notnets ls`
  uint8_t reserved[kCacheLineBytes - 2 * sizeof(SharedWord)];
};
static_assert(sizeof(ReplicaRef) == 64);
static_assert(offsetof(ReplicaRef, host_id) == 8);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_REPLICA_LAYOUT_H_
