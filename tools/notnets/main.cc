// notnets: the operator's command for pools and the services in them.
#include <CLI/CLI.hpp>

#include "ls_command.h"
#include "pool_command.h"
#include "stats_command.h"
#include "tool_output.h"
#include "top_command.h"
#ifdef NOTNETS_TOOL_PING
#include "ping_command.h"
#endif

int main(int argc, char** argv) {
  CLI::App app("notnets: pools and the services in them", "notnets");
  app.require_subcommand(1);
  int exit_code = 0;
  notnets::tool::AddPoolCommand(&app, &exit_code);
  notnets::tool::AddLsCommand(&app, &exit_code);
  notnets::tool::AddStatsCommand(&app, &exit_code);
  notnets::tool::AddTopCommand(&app, &exit_code);
#ifdef NOTNETS_TOOL_PING
  notnets::tool::AddPingCommand(&app, &exit_code);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& help) {  // --help: not an error
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    app.exit(error);
    return notnets::tool::kExitUsage;
  }
  return exit_code;
}
