#include "stats_command.h"

#include <cstdio>
#include <memory>
#include <string>

#include "metrics_server.h"
#include "pool_option.h"
#include "pool_watch.h"
#include "stats_format.h"
#include "tool_output.h"

namespace notnets::tool {

namespace {

struct StatsArguments {
  std::string pool;
  std::string format = "text";
  std::string serve;  // [HOST]:PORT
};

int Stats(const StatsArguments& arguments) {
  PoolWatch watch;
  Status status = watch.Open(arguments.pool);
  if (!status.ok()) return Fail(status);
  if (!arguments.serve.empty()) return ServeMetrics(watch, arguments.serve);
  Reports reports = watch.Read();
  std::string out = arguments.format == "json" ? FormatStatsJson(watch.path(), reports)
                    : arguments.format == "prometheus"
                        ? FormatStatsPrometheus(watch.path(), reports)
                        : FormatStatsText(watch.path(), reports);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

void AddStatsCommand(CLI::App* app, int* exit_code) {
  auto arguments = std::make_shared<StatsArguments>();
  CLI::App* stats = app->add_subcommand(
      "stats", "Print the services' counters and latency histograms, or serve them on /metrics");
  AddPoolOption(stats, &arguments->pool);
  stats->add_option("--format", arguments->format, "text, json or prometheus")
      ->check(CLI::IsMember({"text", "json", "prometheus"}));
  stats
      ->add_option("--serve", arguments->serve,
                   "[HOST]:PORT: serve Prometheus metrics on http://HOST:PORT/metrics until "
                   "SIGINT or SIGTERM (HOST defaults to 0.0.0.0; PORT 0 picks a free port)")
      ->excludes("--format");
  stats->callback([arguments, exit_code] { *exit_code = Stats(*arguments); });
}

}  // namespace notnets::tool
