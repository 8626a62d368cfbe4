// notnets-bench all: every case, every sweep and the idle cost in one run, printed as tables
// and written to a results folder as CSVs, the printed report and PNG plots.
#include <algorithm>
#include <cstdio>

#include "all_sections.h"
#include "machine.h"
#include "plot.h"
#include "results.h"

namespace notnets::bench {
namespace {

bool Wants(const AllOptions& options, const std::string& section) {
  return options.sections.empty() || std::find(options.sections.begin(), options.sections.end(),
                                               section) != options.sections.end();
}

// The run's parameters; `start_load` is the load average when it started.
std::string Details(const AllOptions& options, const std::string& start_load) {
  return "load average " + start_load +
         " at the start (this run adds about 2); main: " + std::to_string(options.calls) +
         " timed calls per case or more to fill 1 s (at most " +
         FormatNumber(options.case_seconds) + " s) after " + std::to_string(options.warmup) +
         " warm-up calls, request \"hello world\"; sweeps: " + std::to_string(options.sweep_calls) +
         " calls per point or more to fill " + FormatNumber(kPointMinSeconds) + " s (at most " +
         FormatNumber(options.point_seconds) + " s); idle: " + FormatNumber(options.idle_seconds) +
         " s; replicas: " + FormatNumber(options.point_seconds) +
         " s per point; workers-step: 3 s; server-kill: 5 kills per placement; every client and "
         "server in its own process, " +
         DescribePinning(MakeCaseOptions(options.common));
}

// The tables of the run, to the terminal and to report.txt alike.
void PrintTables(const AllOptions& options, const std::string& start_load,
                 const AllResults& results, FILE* out) {
  PrintRunHeader(options.common.command_line, Details(options, start_load), out);
  if (!results.main.empty()) {
    std::fprintf(out, "\nmain: one client thread, one call at a time (CPU in us per call)\n");
    PrintLatencyTable(results.main, /*extended=*/true, out);
  }
  for (const Sweep& sweep : results.sweeps) PrintSweep(sweep, out);
  if (!results.idle.empty()) {
    std::fprintf(out, "\nidle cost\n");
    PrintMetricsTable(results.idle, out);
  }
  PrintReplicas(results.replicas, results.new_replica, out);
  PrintWorkersStep(results.workers_step, out);
  PrintServerKill(results.server_kill, out);
}

// What only a run without failures prints: the comparison with gRPC and the targets.
void PrintComparisons(const AllResults& results, FILE* out) {
  PrintComparison(results.main, kBaseline, out);
  PrintTargets(results, out);
}

void PrintCdfCsv(const std::vector<CaseCdf>& cdfs, FILE* out) {
  std::fprintf(out, "case,percentile,latency_us\n");
  for (const CaseCdf& cdf : cdfs) {
    for (const CdfPoint& point : cdf.points) {
      std::fprintf(out, "%s,%.3f,%.3f\n", cdf.name.c_str(), point.percentile, point.latency_us);
    }
  }
}

// Writes the CSVs; records a file that cannot be written as a failure.
void WriteCsvs(const std::string& dir, const AllResults& results, Failures* failures) {
  auto write = [&](const std::string& name, const std::function<void(FILE*)>& print) {
    Status status = WriteResultFile(dir, name, print);
    if (!status.ok()) failures->Add("results/" + name, status);
  };
  if (!results.main.empty()) {
    write("main.csv", [&](FILE* out) { PrintLatencyCsv(results.main, /*extended=*/true, out); });
    write("cdf.csv", [&](FILE* out) { PrintCdfCsv(results.cdfs, out); });
  }
  for (const Sweep& sweep : results.sweeps) {
    write(sweep.name + ".csv", [&](FILE* out) { PrintSweepCsv(sweep, out); });
  }
  if (!results.idle.empty()) {
    write("idle.csv", [&](FILE* out) { PrintMetricsCsv(results.idle, out); });
  }
  if (!results.replicas.empty()) {
    write("replicas.csv", [&](FILE* out) { PrintReplicasCsv(results.replicas, out); });
  }
  if (!results.workers_step.empty()) {
    write("workers_step.csv", [&](FILE* out) { PrintWorkersStepCsv(results.workers_step, out); });
  }
  if (!results.server_kill.empty()) {
    write("server_kill.csv", [&](FILE* out) { PrintServerKillCsv(results.server_kill, out); });
  }
}

}  // namespace

bool ValidAllSections(const std::vector<std::string>& sections) {
  for (const std::string& section : sections) {
    if (std::find(kAllSections.begin(), kAllSections.end(), section) == kAllSections.end()) {
      std::fprintf(stderr, "notnets-bench all: there is no section named %s\n", section.c_str());
      return false;
    }
  }
  return true;
}

int RunAll(const AllOptions& options) {
  std::string dir = options.out.empty() ? DefaultResultsDir() : options.out;
  Status status = MakeResultsDir(dir);
  if (!status.ok()) {
    std::fprintf(stderr, "notnets-bench all: %s\n", status.ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "notnets-bench all: writing to %s\n", dir.c_str());
  std::string start_load = LoadAverage();
  AllResults results;
  Failures failures;
  if (Wants(options, "main")) RunMainSection(options, &results, &failures);
  if (Wants(options, "size")) results.sweeps.push_back(RunSizeSweep(options, &failures));
  if (Wants(options, "clients")) results.sweeps.push_back(RunClientsSweep(options, &failures));
  if (Wants(options, "pipeline")) results.sweeps.push_back(RunPipelineSweep(options, &failures));
  if (Wants(options, "idleconns")) {
    results.sweeps.push_back(RunIdleConnectionsSweep(options, &failures));
  }
  if (Wants(options, "idle")) RunIdleSection(options, &results, &failures);
  if (Wants(options, "replicas")) {
    results.replicas = RunReplicasSection(options, &failures);
    results.new_replica = MeasureNewReplicaFirstCall(options, &failures);
  }
  if (Wants(options, "workers-step")) {
    results.workers_step = RunWorkersStepSection(options, &failures);
  }
  if (Wants(options, "server-kill")) {
    results.server_kill = RunServerKillSection(options, &failures);
  }

  WriteCsvs(dir, results, &failures);
  bool complete = failures.empty();
  auto report = [&](FILE* out) {
    PrintTables(options, start_load, results, out);
    if (complete) {
      PrintComparisons(results, out);
    } else {
      std::fprintf(out, "\nNO COMPARISON: this run is incomplete. Failed:\n");
      for (const std::string& line : failures.Lines()) std::fprintf(out, "  %s\n", line.c_str());
    }
  };
  report(stdout);
  status = WriteResultFile(dir, "report.txt", report);
  if (!status.ok()) failures.Add("results/report.txt", status);

  if (complete) {
    PlotInputs inputs;
    for (const CaseCdf& cdf : results.cdfs) inputs.cdf_cases.push_back(cdf.name);
    for (const Sweep& sweep : results.sweeps) inputs.sweeps.push_back(&sweep);
    std::vector<std::string> pngs;
    status = DrawPlots(dir, inputs, &pngs);
    if (!status.ok()) {
      failures.Add("plots", status);
    } else {
      std::printf("\nwrote %s/: CSVs, report.txt, plots.gp and %zu PNGs\n", dir.c_str(),
                  pngs.size());
    }
  } else {
    std::printf("\nwrote %s/: CSVs of what succeeded, report.txt; no plots\n", dir.c_str());
  }
  return failures.Report(0);
}

}  // namespace notnets::bench
