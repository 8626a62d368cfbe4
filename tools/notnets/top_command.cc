#include "top_command.h"

#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "latency.h"
#include "pool_option.h"
#include "pool_watch.h"
#include "tool_output.h"

namespace notnets::tool {

namespace {

using Clock = std::chrono::steady_clock;

struct TopArguments {
  std::string pool;
  double interval_seconds = 1;
  uint32_t iterations = 0;  // 0: until interrupted
};

// A service's counters are comparable between two snapshots only while the same server keeps
// the same entry.
using ServiceKey = std::pair<uint32_t, uint64_t>;  // directory entry, generation

// Counts that went up between two snapshots; a torn read that seems to go down counts 0.
uint64_t Delta(uint64_t now, uint64_t before) { return now > before ? now - before : 0; }

void PrintFrame(const PoolWatch& watch, const std::vector<internal::ServiceReport>& reports,
                const std::map<ServiceKey, internal::CounterTotals>& before, double seconds,
                bool clear) {
  if (clear) std::printf("\033[H\033[2J");
  std::printf("notnets top  %s  every %.1f s\n\n", watch.path().c_str(), seconds);
  std::printf("%-36s %-8s %8s %10s %8s %12s %12s %9s\n", "SERVICE", "STATE", "PID", "CALLS/S",
              "ERRORS/S", "P50<=", "P99<=", "BUSY/WRK");
  for (const internal::ServiceReport& report : reports) {
    if (!report.has_counters) continue;
    const internal::CounterTotals& now = report.counters;
    auto previous = before.find({report.index, report.generation});
    internal::CounterTotals zero;
    const internal::CounterTotals& then = previous != before.end() ? previous->second : zero;
    LatencyHistogram window = {};
    for (uint32_t bucket = 0; bucket < internal::kLatencyBuckets; ++bucket) {
      window[bucket] = Delta(now.latency[bucket], then.latency[bucket]);
    }
    uint64_t finished = Delta(now.calls_finished, then.calls_finished);
    uint64_t ok = Delta(now.by_code[0], then.by_code[0]);
    std::string busy = std::to_string(now.busy_workers) + "/" + std::to_string(now.workers);
    std::printf(
        "%-36s %-8s %8d %10.0f %8.0f %10" PRIu64 "ns %10" PRIu64 "ns %9s\n", report.name.c_str(),
        StateName(report), report.server_pid, static_cast<double>(finished) / seconds,
        static_cast<double>(Delta(finished, ok)) / seconds, QuantileUpperBoundNs(window, 0.5),
        QuantileUpperBoundNs(window, 0.99), busy.c_str());
  }
  std::fflush(stdout);
}

int Top(const TopArguments& arguments) {
  PoolWatch watch;
  Status status = watch.Open(arguments.pool);
  if (!status.ok()) return Fail(status);
  bool terminal = ::isatty(STDOUT_FILENO) != 0;
  std::map<ServiceKey, internal::CounterTotals> before;
  for (const internal::ServiceReport& report : watch.Read()) {
    before[{report.index, report.generation}] = report.counters;
  }
  auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(arguments.interval_seconds));
  Clock::time_point last = Clock::now();
  for (uint32_t frame = 0; arguments.iterations == 0 || frame < arguments.iterations; ++frame) {
    std::this_thread::sleep_until(last + interval);
    Clock::time_point now = Clock::now();
    std::vector<internal::ServiceReport> reports = watch.Read();
    double seconds = std::chrono::duration<double>(now - last).count();
    PrintFrame(watch, reports, before, seconds, terminal);
    before.clear();
    for (const internal::ServiceReport& report : reports) {
      before[{report.index, report.generation}] = report.counters;
    }
    last = now;
  }
  return 0;
}

}  // namespace

void AddTopCommand(CLI::App* app, int* exit_code) {
  auto arguments = std::make_shared<TopArguments>();
  CLI::App* top = app->add_subcommand(
      "top", "Show calls/s, errors/s, p50/p99 latency and busy workers per service, refreshed");
  AddPoolOption(top, &arguments->pool);
  top->add_option("-i,--interval", arguments->interval_seconds, "Seconds between refreshes")
      ->check(CLI::PositiveNumber);
  top->add_option("-n,--iterations", arguments->iterations,
                  "Refreshes before exiting (default: until interrupted)");
  top->callback([arguments, exit_code] { *exit_code = Top(*arguments); });
}

}  // namespace notnets::tool
