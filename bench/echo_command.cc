// notnets-bench echo: the latency of an echo call, case by case.
#include <cstdio>

#include "all_sections.h"
#include "commands.h"
#include "payload.h"
#include "report.h"
#include "session.h"

namespace notnets::bench {

int RunEcho(const EchoOptions& options) {
  if (!options.common.csv) {
    PrintRunHeader(options.common.command_line,
                   std::to_string(options.calls) + " timed calls per case after " +
                       std::to_string(options.warmup) + " warm-up calls; request \"" +
                       std::string(kEchoPayload) + "\"; client and server in separate processes, " +
                       DescribePinning(MakeCaseOptions(options.common)));
  }
  Job job;
  job.calls = options.calls;
  job.warmup = options.warmup;
  job.payload_size = kEchoPayload.size();
  job.connects = options.connects;
  std::vector<CaseResult> results;
  std::vector<CaseMetrics> set_up;
  Failures failures;
  for (const std::string& name : options.cases) {
    JobResult result;
    Status status = RunLatencyCase(name, MakeCaseOptions(options.common), job, &result);
    if (status.ok()) {
      results.push_back(CaseResult{name, result.measurement});
      set_up.push_back(CaseMetrics{name, result.metrics});
    } else {
      failures.Add(name, status);
    }
  }

  if (options.common.csv) {
    PrintLatencyCsv(results, /*extended=*/false);
    if (options.connects > 0) {
      std::printf("\n");
      PrintMetricsCsv(set_up);
    }
  } else {
    PrintLatencyTable(results, /*extended=*/false);
    if (options.connects > 0) {
      std::printf(
          "\nConnection set-up: from Connect to the first response, %u clients one after "
          "another\n",
          options.connects);
      PrintMetricsTable(set_up);
    }
    if (failures.empty()) {
      PrintComparison(results, kBaseline);
      PrintGrpcTargets(results, stdout);
      PrintPlacementTargets(results, stdout);
    }
  }
  return failures.Report(options.cases.size());
}

}  // namespace notnets::bench
