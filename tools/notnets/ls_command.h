// `notnets ls`: the services of a pool, their servers, connections, owners and state.
#ifndef NOTNETS_TOOLS_NOTNETS_LS_COMMAND_H_
#define NOTNETS_TOOLS_NOTNETS_LS_COMMAND_H_

#include <CLI/CLI.hpp>

namespace notnets::tool {

// Adds the `ls` subcommand to `app`; when it runs, its exit code goes to `*exit_code`.
void AddLsCommand(CLI::App* app, int* exit_code);

}  // namespace notnets::tool

#endif  // NOTNETS_TOOLS_NOTNETS_LS_COMMAND_H_
