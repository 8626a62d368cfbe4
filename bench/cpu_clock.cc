#include "cpu_clock.h"

#include <time.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace notnets::bench {
namespace {

// `time` in seconds.
double Seconds(const timespec& time) {
  return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_nsec) * 1e-9;
}

}  // namespace

double OwnCpuSeconds() {
  timespec now = {};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return Seconds(now);
}

Status ProcessCpuSeconds(pid_t pid, double* seconds) {
  clockid_t clock;
  int error = clock_getcpuclockid(pid, &clock);
  timespec now = {};
  if (error == 0 && clock_gettime(clock, &now) != 0) error = errno;
  if (error != 0) {
    return Status(StatusCode::INTERNAL, "cannot read the CPU clock of process " +
                                            std::to_string(pid) + ": " + std::strerror(error));
  }
  *seconds = Seconds(now);
  return Status::OK;
}

Status ReadCpu(pid_t server_pid, CpuReading* reading) {
  reading->client = OwnCpuSeconds();
  reading->server = 0;
  if (server_pid <= 0) return Status::OK;
  return ProcessCpuSeconds(server_pid, &reading->server);
}

}  // namespace notnets::bench
