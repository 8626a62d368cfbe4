// The --pool option that the subcommands reading a pool share.
#ifndef NOTNETS_TOOLS_NOTNETS_POOL_OPTION_H_
#define NOTNETS_TOOLS_NOTNETS_POOL_OPTION_H_

#include <CLI/CLI.hpp>
#include <string>

namespace notnets::tool {

// Adds `-p,--pool NAME` to `command`, stored in `*pool`; empty (not given) means what
// Pool::PathFor makes of it: $NOTNETS_POOL, else "default".
inline void AddPoolOption(CLI::App* command, std::string* pool) {
  command->add_option("-p,--pool", *pool,
                      "A path, or a name for /dev/shm/notnets-NAME (default: $NOTNETS_POOL, else "
                      "'default')");
}

}  // namespace notnets::tool

#endif  // NOTNETS_TOOLS_NOTNETS_POOL_OPTION_H_
