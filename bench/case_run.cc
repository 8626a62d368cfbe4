// What every command does with a case: choose where its processes run, and run one job.
#include "commands.h"
#include "machine.h"
#include "session.h"

namespace notnets::bench {

CaseOptions MakeCaseOptions(const CommonOptions& common, uint64_t pool_bytes) {
  CaseOptions options;
  options.pool_name = common.pool_name;
  options.pool_bytes = pool_bytes;
  std::vector<int> cpus = UsableCpuList();
  if (common.pin && cpus.size() >= 2) {
    options.client_cpu = cpus[0];
    options.server_cpu = cpus[1];
  }
  return options;
}

std::string DescribePinning(const CaseOptions& options) {
  if (options.client_cpu < 0) return "client and server not pinned";
  return "client pinned to CPU " + std::to_string(options.client_cpu) + ", server to CPU " +
         std::to_string(options.server_cpu);
}

Status RunLatencyCase(const std::string& name, const CaseOptions& case_options, const Job& job,
                      JobResult* result) {
  std::unique_ptr<CaseSession> session;
  Status status = CaseSession::Open(name, case_options, &session);
  if (!status.ok()) return status;
  status = session->Run(job, result);
  Status closed = session->Close();
  return status.ok() ? closed : status;
}

}  // namespace notnets::bench
