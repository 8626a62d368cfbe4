#include "ls_command.h"

#include <cinttypes>
#include <cstdio>
#include <memory>
#include <string>

#include "pool_option.h"
#include "pool_watch.h"
#include "tool_output.h"

namespace notnets::tool {

namespace {

int List(const std::string& pool_name) {
  PoolWatch watch;
  Status status = watch.Open(pool_name);
  if (!status.ok()) return Fail(status);
  std::printf("%-40s %-8s %8s %6s %9s %6s %9s %7s %-7s %s\n", "SERVICE", "STATE", "PID", "UID",
              "BUSY/WRK", "CONNS", "ACCEPTED", "METHODS", "ROLE", "HOST");
  for (const internal::ServiceReport& report : watch.Read()) {
    std::string uid = "-", workers = "-", open = "-";
    if (report.has_counters) {
      const internal::CounterTotals& c = report.counters;
      uid = std::to_string(c.server_uid);
      workers = std::to_string(c.busy_workers) + "/" + std::to_string(c.workers);
      open = std::to_string(c.connections_open);
    }
    // A replica's row per server: the host (the low 32 bits of its id) tells them apart across
    // emulated hosts and containers of other kernels.
    std::printf("%-40s %-8s %8d %6s %9s %6s %9" PRIu64 " %7u %-7s %08" PRIx64 "\n",
                report.name.c_str(), StateName(report), report.server_pid, uid.c_str(),
                workers.c_str(), open.c_str(), report.connections_accepted, report.method_count,
                report.replica ? "replica" : "sole", report.host_id & 0xffffffffu);
  }
  return 0;
}

}  // namespace

void AddLsCommand(CLI::App* app, int* exit_code) {
  auto pool = std::make_shared<std::string>();
  CLI::App* ls = app->add_subcommand(
      "ls",
      "List services: state, server process and user, busy/total workers, connections, "
      "replica and host");
  AddPoolOption(ls, pool.get());
  ls->callback([pool, exit_code] { *exit_code = List(*pool); });
}

}  // namespace notnets::tool
