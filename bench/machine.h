// Facts about the machine the benchmark runs on.
#ifndef NOTNETS_BENCH_MACHINE_H_
#define NOTNETS_BENCH_MACHINE_H_

#include <string>
#include <vector>

namespace notnets::bench {

// The number of CPUs this process may run on, as nproc(1) counts them; 0 if unknown.
int UsableCpus();

// The CPUs this process may run on, lowest first.
std::vector<int> UsableCpuList();

// The first "model name" in /proc/cpuinfo, or "unknown CPU".
std::string CpuModel();

// The kernel release, as uname -r prints it, or "unknown".
std::string KernelRelease();

// The 1-minute load average from /proc/loadavg, or "unknown".
std::string LoadAverage();

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_MACHINE_H_
