// Last-resort cleanup for a benchmark that cannot finish normally (interrupted by a signal, or a
// case that stopped making progress): kills the child processes and removes the files that client
// and server share, so that no stray process or pool file outlives the benchmark.
#ifndef NOTNETS_BENCH_EMERGENCY_H_
#define NOTNETS_BENCH_EMERGENCY_H_

#include <sys/types.h>

#include <string>

namespace notnets::bench {

// Makes SIGINT, SIGTERM and SIGHUP run EmergencyExit(128 + signal number).
void InstallEmergencyHandlers();

// Kills the registered child processes with SIGKILL and reaps them, removes the registered files,
// and ends the process with `code`. Async-signal-safe.
[[noreturn]] void EmergencyExit(int code);

// Registers child process `pid` for EmergencyExit to kill while alive. Holds up to a few at once;
// aborts if there is no room (a programming error). The process must not be reaped while
// registered, so that its pid cannot have been reused.
class EmergencyKill {
 public:
  explicit EmergencyKill(pid_t pid);
  ~EmergencyKill();
  EmergencyKill(const EmergencyKill&) = delete;
  EmergencyKill& operator=(const EmergencyKill&) = delete;

 private:
  int slot_;
};

// Registers the file at `path` for EmergencyExit to remove while alive. Holds up to a few paths
// at once; aborts if there is no room (a programming error).
class EmergencyUnlink {
 public:
  explicit EmergencyUnlink(const std::string& path);
  ~EmergencyUnlink();
  EmergencyUnlink(const EmergencyUnlink&) = delete;
  EmergencyUnlink& operator=(const EmergencyUnlink&) = delete;

 private:
  int slot_;
};

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_EMERGENCY_H_
