#include "rpc/cpu_affinity.h"

#include <sched.h>

#include <string>

namespace notnets::internal {

Status CheckCpus(const std::vector<int>& cpus, std::string_view role) {
  if (cpus.empty()) return Status::OK;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
    return Status(StatusCode::INTERNAL, "sched_getaffinity failed");
  }
  for (int cpu : cpus) {
    if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed)) {
      return Status(StatusCode::INVALID_ARGUMENT, std::string(role) + " CPU " +
                                                      std::to_string(cpu) +
                                                      " is not one this process may run on");
    }
  }
  return Status::OK;
}

void PinCallingThread(const std::vector<int>& cpus) {
  if (cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) {
    if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
  }
  // Pid 0 is the calling thread, not the whole process.
  sched_setaffinity(0, sizeof(set), &set);
}

}  // namespace notnets::internal
