// CPU time used by a process, read precisely (nanoseconds, all threads, those ended included).
#ifndef NOTNETS_BENCH_CPU_CLOCK_H_
#define NOTNETS_BENCH_CPU_CLOCK_H_

#include <sys/types.h>

#include "notnets/status.h"

namespace notnets::bench {

// CPU seconds (user + system) this process has used so far.
double OwnCpuSeconds();

// CPU seconds (user + system) process `pid` has used so far, through clock_getcpuclockid (same
// user). Fails if the process is gone.
Status ProcessCpuSeconds(pid_t pid, double* seconds);

// A pair of readings of the client's and the server's CPU clocks.
struct CpuReading {
  double client = 0;
  double server = 0;
};

// Reads both clocks; the server's is 0 if `server_pid` is not positive.
Status ReadCpu(pid_t server_pid, CpuReading* reading);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_CPU_CLOCK_H_
