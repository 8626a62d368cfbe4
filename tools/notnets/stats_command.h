// `notnets stats`: the services' counters as text, JSON or Prometheus metrics, printed once or
// served on /metrics for a Prometheus server to scrape.
#ifndef NOTNETS_TOOLS_NOTNETS_STATS_COMMAND_H_
#define NOTNETS_TOOLS_NOTNETS_STATS_COMMAND_H_

#include <CLI/CLI.hpp>

namespace notnets::tool {

// Adds the `stats` subcommand to `app`; when it runs, its exit code goes to `*exit_code`.
void AddStatsCommand(CLI::App* app, int* exit_code);

}  // namespace notnets::tool

#endif  // NOTNETS_TOOLS_NOTNETS_STATS_COMMAND_H_
