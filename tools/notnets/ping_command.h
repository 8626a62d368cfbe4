// `notnets ping SERVICE`: a health check through the pool, as grpc_health_probe makes over
// HTTP/2, with exit codes a Kubernetes exec probe can use.
#ifndef NOTNETS_TOOLS_NOTNETS_PING_COMMAND_H_
#define NOTNETS_TOOLS_NOTNETS_PING_COMMAND_H_

#include <CLI/CLI.hpp>

namespace notnets::tool {

// Exit codes of `notnets ping` besides kExitFailed (1: the pool or the health call failed) and
// kExitUsage (2).
inline constexpr int kExitServing = 0;
inline constexpr int kExitAbsent = 3;      // no live server serves SERVICE in the pool
inline constexpr int kExitNotServing = 4;  // its server says NOT_SERVING, or is shutting down

// Adds the `ping` subcommand to `app`; when it runs, its exit code goes to `*exit_code`.
void AddPingCommand(CLI::App* app, int* exit_code);

}  // namespace notnets::tool

#endif  // NOTNETS_TOOLS_NOTNETS_PING_COMMAND_H_
