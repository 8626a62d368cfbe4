// Identifies a process on this host across pid reuse: its pid and its start time.
#ifndef NOTNETS_POOL_PROCESS_IDENTITY_H_
#define NOTNETS_POOL_PROCESS_IDENTITY_H_

#include <cstdint>

namespace notnets::internal {

struct ProcessIdentity {
  int32_t pid = 0;
  uint64_t start_ticks = 0;  // field 22 of /proc/<pid>/stat
};

// The identity of the calling process.
ProcessIdentity SelfIdentity();

// False only if the process is known to be gone (no such pid, an exited process not yet reaped,
// or the pid now belongs to a process started at another time). A process we cannot inspect
// counts as alive.
bool IsAlive(const ProcessIdentity& identity);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_PROCESS_IDENTITY_H_
