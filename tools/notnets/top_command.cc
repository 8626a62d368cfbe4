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
#include <vector>

#include "arguments.h"
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

// What one frame compares the next with: each service's counters, and each connection's (by its
// serial, unique for the pool's life).
struct Snapshot {
  std::map<ServiceKey, internal::CounterTotals> services;
  std::map<uint64_t, internal::ConnectionReport> connections;
};

// Counts that went up between two snapshots; a torn read that seems to go down counts 0.
uint64_t Delta(uint64_t now, uint64_t before) { return now > before ? now - before : 0; }

// Sets `*window` to the calls of each latency bucket between two snapshots of a histogram.
void Window(const LatencyHistogram& now, const LatencyHistogram& before, LatencyHistogram* window) {
  for (uint32_t bucket = 0; bucket < internal::kLatencyBuckets; ++bucket) {
    (*window)[bucket] = Delta(now[bucket], before[bucket]);
  }
}

// One row: calls/s and errors/s over `seconds`, and the quantiles of the latencies counted.
void PrintRow(const std::string& name, const char* state, int32_t pid, uint64_t finished,
              uint64_t failed, const LatencyHistogram& window, const std::string& busy,
              double seconds) {
  std::printf("%-36s %-8s %8d %10.0f %8.0f %10" PRIu64 "ns %10" PRIu64 "ns %9s\n", name.c_str(),
              state, pid, static_cast<double>(finished) / seconds,
              static_cast<double>(failed) / seconds, QuantileUpperBoundNs(window, 0.5),
              QuantileUpperBoundNs(window, 0.99), busy.c_str());
}

// Each service's row (per replica: each has its own entry), then one row per connection to it,
// as its client counts: calls answered, failed, and their latency seen by the client.
void PrintFrame(const PoolWatch& watch, const std::vector<internal::ServiceReport>& reports,
                const std::vector<std::vector<internal::ConnectionReport>>& connections,
                const Snapshot& before, double seconds, bool clear) {
  if (clear) std::printf("\033[H\033[2J");
  std::printf("notnets top  %s  every %.1f s\n\n", watch.path().c_str(), seconds);
  std::printf("%-36s %-8s %8s %10s %8s %12s %12s %9s\n", "SERVICE / CONNECTION", "STATE", "PID",
              "CALLS/S", "ERRORS/S", "P50<=", "P99<=", "BUSY/WRK");
  for (size_t i = 0; i < reports.size(); ++i) {
    const internal::ServiceReport& report = reports[i];
    if (!report.has_counters) continue;
    const internal::CounterTotals& now = report.counters;
    auto previous = before.services.find({report.index, report.generation});
    internal::CounterTotals zero;
    const internal::CounterTotals& then =
        previous != before.services.end() ? previous->second : zero;
    LatencyHistogram window;
    Window(now.latency, then.latency, &window);
    uint64_t finished = Delta(now.calls_finished, then.calls_finished);
    uint64_t ok = Delta(now.by_code[0], then.by_code[0]);
    std::string busy = std::to_string(now.busy_workers) + "/" + std::to_string(now.workers);
    PrintRow(report.name, StateName(report), report.server_pid, finished, Delta(finished, ok),
             window, busy, seconds);
    for (const internal::ConnectionReport& connection : connections[i]) {
      auto earlier = before.connections.find(connection.serial);
      internal::ConnectionReport none;
      const internal::ConnectionReport& from =
          earlier != before.connections.end() ? earlier->second : none;
      LatencyHistogram seen;
      Window(connection.latency, from.latency, &seen);
      PrintRow("  connection " + std::to_string(connection.serial), "client", connection.client_pid,
               Delta(connection.calls_answered, from.calls_answered),
               Delta(connection.calls_failed, from.calls_failed), seen, "-", seconds);
    }
  }
  std::fflush(stdout);
}

// Reads every service and the connections to each, and keeps them in `*snapshot`.
void ReadAll(const PoolWatch& watch, std::vector<internal::ServiceReport>* reports,
             std::vector<std::vector<internal::ConnectionReport>>* connections,
             Snapshot* snapshot) {
  *reports = watch.Read();
  connections->clear();
  snapshot->services.clear();
  snapshot->connections.clear();
  for (const internal::ServiceReport& report : *reports) {
    snapshot->services[{report.index, report.generation}] = report.counters;
    connections->push_back(watch.ReadConnections(report));
    for (const internal::ConnectionReport& connection : connections->back()) {
      snapshot->connections[connection.serial] = connection;
    }
  }
}

int Top(const TopArguments& arguments) {
  PoolWatch watch;
  Status status = watch.Open(arguments.pool);
  if (!status.ok()) return Fail(status);
  bool terminal = ::isatty(STDOUT_FILENO) != 0;
  std::vector<internal::ServiceReport> reports;
  std::vector<std::vector<internal::ConnectionReport>> connections;
  Snapshot before;
  ReadAll(watch, &reports, &connections, &before);
  auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(arguments.interval_seconds));
  Clock::time_point last = Clock::now();
  for (uint32_t frame = 0; arguments.iterations == 0 || frame < arguments.iterations; ++frame) {
    std::this_thread::sleep_until(last + interval);
    Clock::time_point now = Clock::now();
    Snapshot current;
    ReadAll(watch, &reports, &connections, &current);
    double seconds = std::chrono::duration<double>(now - last).count();
    PrintFrame(watch, reports, connections, before, seconds, terminal);
    before = std::move(current);
    last = now;
  }
  return 0;
}

}  // namespace

void AddTopCommand(CLI::App* app, int* exit_code) {
  auto arguments = std::make_shared<TopArguments>();
  CLI::App* top = app->add_subcommand(
      "top",
      "Show calls/s, errors/s, p50/p99 latency and busy workers per service and replica, and "
      "calls/s, errors/s and p50/p99 per connection, refreshed");
  AddPoolOption(top, &arguments->pool);
  top->add_option("-i,--interval", arguments->interval_seconds,
                  "Seconds between refreshes, up to an hour")
      ->check(Seconds());
  top->add_option("-n,--iterations", arguments->iterations,
                  "Refreshes before exiting (default: until interrupted)");
  top->callback([arguments, exit_code] { *exit_code = Top(*arguments); });
}

}  // namespace notnets::tool
