// The main table and the idle-cost section of "notnets-bench all".
#include "all_sections.h"

#include "payload.h"

namespace notnets::bench {

void RunMainSection(const AllOptions& options, AllResults* results, Failures* failures) {
  Job job;
  job.calls = options.calls;
  job.warmup = options.warmup;
  job.payload_size = kEchoPayload.size();
  job.min_seconds = 1;
  job.max_seconds = options.case_seconds;
  job.cdf = true;
  for (const std::string& name : RegisteredCaseNames()) {
    std::fprintf(stderr, "notnets-bench: main: %s\n", name.c_str());
    JobResult result;
    Status status = RunLatencyCase(name, MakeCaseOptions(options.common), job, &result);
    if (!status.ok()) {
      failures->Add("main/" + name, status);
      continue;
    }
    results->main.push_back(CaseResult{name, result.measurement});
    results->cdfs.push_back(CaseCdf{name, result.cdf});
  }
}

void RunIdleSection(const AllOptions& options, AllResults* results, Failures* failures) {
  for (const std::string name : {"notnets-native", "grpc-http2-tcp"}) {
    std::fprintf(stderr, "notnets-bench: idle: %s\n", name.c_str());
    CaseMetrics metrics{name, {}};
    Status status = MeasureIdle(name, options.common, options.idle_seconds, &metrics.metrics);
    if (!status.ok()) {
      failures->Add("idle/" + name, status);
      continue;
    }
    results->idle.push_back(metrics);
  }
}

const Sweep* FindSweep(const AllResults& results, const std::string& name) {
  for (const Sweep& sweep : results.sweeps) {
    if (sweep.name == name) return &sweep;
  }
  return nullptr;
}

}  // namespace notnets::bench
