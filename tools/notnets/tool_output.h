// How every notnets subcommand reports failure, so that scripts can tell a refused argument from
// a failed operation.
#ifndef NOTNETS_TOOLS_NOTNETS_TOOL_OUTPUT_H_
#define NOTNETS_TOOLS_NOTNETS_TOOL_OUTPUT_H_

#include <string>

#include "notnets/status.h"

namespace notnets::tool {

// Exit code of a command line the command refuses before doing anything.
inline constexpr int kExitUsage = 2;
// Exit code of an operation that failed.
inline constexpr int kExitFailed = 1;

// Prints "notnets: <message>" to stderr; returns kExitUsage.
int Refuse(const std::string& message);

// Prints "notnets: <status>" to stderr; returns kExitFailed.
int Fail(const Status& status);

}  // namespace notnets::tool

#endif  // NOTNETS_TOOLS_NOTNETS_TOOL_OUTPUT_H_
