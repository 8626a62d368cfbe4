// `notnets top`: calls per second, latency quantiles and busy workers of each service, refreshed
// in the terminal.
#ifndef NOTNETS_TOOLS_NOTNETS_TOP_COMMAND_H_
#define NOTNETS_TOOLS_NOTNETS_TOP_COMMAND_H_

#include <CLI/CLI.hpp>

namespace notnets::tool {

// Adds the `top` subcommand to `app`; when it runs, its exit code goes to `*exit_code`.
void AddTopCommand(CLI::App* app, int* exit_code);

}  // namespace notnets::tool

#endif  // NOTNETS_TOOLS_NOTNETS_TOP_COMMAND_H_
