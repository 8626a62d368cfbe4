// Which host (kernel) this process runs on, as the pool's lease table records it.
#ifndef NOTNETS_POOL_HOST_ID_H_
#define NOTNETS_POOL_HOST_ID_H_

#include <cstdint>
#include <string>

namespace notnets::internal {

// A nonzero number that processes of one kernel share and processes of other kernels do not:
// a hash of NOTNETS_HOST_ID if it is set (emulated hosts, which share one kernel, set it apart),
// else of the kernel's boot id. Read once per process.
uint64_t HostId();

// The host id of processes whose NOTNETS_HOST_ID is `configured` (not empty).
uint64_t HostIdFor(const std::string& configured);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_HOST_ID_H_
