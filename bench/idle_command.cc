// notnets-bench idle: what an idle client and server cost, and what the first calls after
// idling cost.
#include <cstdio>

#include "commands.h"
#include "report.h"
#include "session.h"

namespace notnets::bench {

Status MeasureIdle(const std::string& name, const CommonOptions& common, double seconds,
                   std::vector<Metric>* metrics) {
  Job job;
  job.mode = JobMode::kIdle;
  job.warmup = 1000;
  job.idle_seconds = seconds;
  JobResult result;
  Status status = RunLatencyCase(name, MakeCaseOptions(common), job, &result);
  if (status.ok()) *metrics = result.metrics;
  return status;
}

int RunIdle(const IdleOptions& options) {
  if (!options.common.csv) {
    PrintRunHeader(options.common.command_line,
                   "per case: 1,000 warm-up calls, 1 s idle, 3 timed calls, " +
                       FormatNumber(options.seconds) +
                       " s idle (CPU of both processes measured), 3 timed calls; " +
                       DescribePinning(MakeCaseOptions(options.common)));
  }
  std::vector<CaseMetrics> results;
  Failures failures;
  for (const std::string& name : options.cases) {
    CaseMetrics result{name, {}};
    Status status = MeasureIdle(name, options.common, options.seconds, &result.metrics);
    if (status.ok()) {
      results.push_back(result);
    } else {
      failures.Add("idle/" + name, status);
    }
  }
  if (options.common.csv) {
    PrintMetricsCsv(results);
  } else {
    PrintMetricsTable(results);
  }
  return failures.Report(options.cases.size());
}

}  // namespace notnets::bench
