// The "server-kill" section of "notnets-bench all": how long a client's outstanding calls take to
// fail UNAVAILABLE once their server is killed with SIGKILL (issue #11's liveness targets). On
// one kernel with the server in a pid namespace of its own (unshare, as a container's), the
// target is 100 ms; with server and client on two emulated hosts, which see each other only by
// lease, 1.5 times the lease period. Printed against the targets, never asserted.
#ifndef NOTNETS_BENCH_SERVER_KILL_SECTION_H_
#define NOTNETS_BENCH_SERVER_KILL_SECTION_H_

#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "failures.h"

namespace notnets::bench {

// One placement of server and client, over several kills.
struct KillRow {
  std::string placement;  // "same kernel, server in its own pid namespace", ...
  std::string case_name;
  double target_ms = 0;
  // Milliseconds from each SIGKILL to each of its outstanding calls' failure.
  std::vector<double> failed_after_ms;
};

// Kills the server of each placement several times, each time with calls outstanding; a failed
// trial is recorded as "server-kill/<case>/<trial>".
std::vector<KillRow> RunServerKillSection(const AllOptions& options, Failures* failures);

// Prints min, p50 and max of each placement against its target.
void PrintServerKill(const std::vector<KillRow>& rows, FILE* out);

// Writes one CSV row per placement.
void PrintServerKillCsv(const std::vector<KillRow>& rows, FILE* out);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_SERVER_KILL_SECTION_H_
