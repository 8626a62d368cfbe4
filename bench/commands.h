// The subcommands of notnets-bench that people run (the hidden "serve" is in process.h).
#ifndef NOTNETS_BENCH_COMMANDS_H_
#define NOTNETS_BENCH_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace notnets::bench {

// What every subcommand needs.
struct CommonOptions {
  // The command as typed, for the report's header.
  std::string command_line;
  // The notnets pool to create for the cases that use one; removed at the end.
  std::string pool_name;
  // Print CSV instead of a table.
  bool csv = false;
};

// Options of "notnets-bench echo".
struct EchoOptions {
  CommonOptions common;
  uint64_t calls = 200000;
  uint64_t warmup = 10000;
  // Names of the cases to run, in order; each must be registered.
  std::vector<std::string> cases;
};

// Options of "notnets-bench idle".
struct IdleOptions {
  CommonOptions common;
  // How long the server stays idle; more than 1 (CPU use is measured after the first second).
  double seconds = 2;
};

// Runs each case with its server in a separate process, times `calls` echo calls after `warmup`
// untimed ones, and prints the latency report. Returns 0, or 1 if any case failed (each failure
// is named on stderr and the comparison with gRPC is left out).
int RunEcho(const EchoOptions& options);

// Starts a native notnets echo server process, calls it once, leaves it idle, and prints its CPU
// use while idle and the latency of the calls that follow. Returns 0, or 1 on failure.
int RunIdle(const IdleOptions& options);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_COMMANDS_H_
