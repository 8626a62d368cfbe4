// `notnets pool create|inspect|remove`: the life of a pool file.
#ifndef NOTNETS_TOOLS_NOTNETS_POOL_COMMAND_H_
#define NOTNETS_TOOLS_NOTNETS_POOL_COMMAND_H_

#include <CLI/CLI.hpp>

namespace notnets::tool {

// Adds the `pool` subcommand to `app`; when it runs, its exit code goes to `*exit_code`.
void AddPoolCommand(CLI::App* app, int* exit_code);

}  // namespace notnets::tool

#endif  // NOTNETS_TOOLS_NOTNETS_POOL_COMMAND_H_
