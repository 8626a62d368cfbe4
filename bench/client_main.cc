// The client process: parses its Job, runs it, and reports the result to the parent.
#include <cstdio>
#include <cstdlib>

#include "runners.h"

namespace notnets::bench {

int ClientMain(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::fprintf(stderr, "usage: notnets-bench client <fd> <job words...>\n");
    return 2;
  }
  // Blocked before any thread starts, so that every thread inherits the mask.
  BlockStopSignal();
  ParentPipe parent(std::atoi(args[0].c_str()));
  Job job;
  Status status = Job::FromWords(std::vector<std::string>(args.begin() + 1, args.end()), &job);
  std::unique_ptr<Case> bench_case = status.ok() ? MakeCase(job.case_name) : nullptr;
  if (status.ok() && bench_case == nullptr) {
    status = Status(StatusCode::INVALID_ARGUMENT, "no case named " + job.case_name);
  }
  JobResult result;
  if (status.ok() && job.mode == JobMode::kHold) {
    status = RunHoldJob(bench_case.get(), job, &parent);
  } else if (status.ok() && job.mode == JobMode::kTimed) {
    status = RunTimedJob(bench_case.get(), job, &parent, &result);
    if (status.ok()) {
      for (const std::string& line : result.ToLines()) parent.Line(line);
    }
  } else if (status.ok() && job.mode == JobMode::kOutstanding) {
    status = RunOutstandingJob(job, &parent, &result);
    if (status.ok()) {
      for (const std::string& line : result.ToLines()) parent.Line(line);
    }
  } else if (status.ok()) {
    parent.Ready("");
    switch (job.mode) {
      case JobMode::kLatency:
        status = RunLatencyJob(bench_case.get(), job, &result);
        break;
      case JobMode::kPipeline:
        status = RunPipelineJob(bench_case.get(), job, &result);
        break;
      default:
        status = RunIdleJob(bench_case.get(), job, &result);
        break;
    }
    if (status.ok()) {
      for (const std::string& line : result.ToLines()) parent.Line(line);
    }
  }
  if (status.ok()) return 0;
  parent.Failed(status.ToString());
  return 1;
}

}  // namespace notnets::bench
