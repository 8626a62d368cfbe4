// Pinning a thread to CPUs, for a server's workers and a channel's completion threads.
#ifndef NOTNETS_RPC_CPU_AFFINITY_H_
#define NOTNETS_RPC_CPU_AFFINITY_H_

#include <string_view>
#include <vector>

#include "notnets/status.h"

namespace notnets::internal {

// OK if this process may run on every CPU of `cpus` (its affinity: taskset, a container's
// cpuset); else INVALID_ARGUMENT naming the first it may not, as "<role> CPU <n> ...".
Status CheckCpus(const std::vector<int>& cpus, std::string_view role);

// Lets the calling thread run on the CPUs of `cpus` alone; nothing if `cpus` is empty. Should the
// process's affinity have changed since CheckCpus, the thread runs unpinned rather than not at all.
void PinCallingThread(const std::vector<int>& cpus);

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_CPU_AFFINITY_H_
