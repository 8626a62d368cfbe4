#include "session.h"

namespace notnets::bench {
namespace {

constexpr int kServerReadyTimeoutMs = 20000;
// Holding 10,000 connections takes a while to set up.
constexpr int kHolderReadyTimeoutMs = 300000;
// A client process that has not finished after this long is killed (its own watchdog ends it
// sooner if calls stop completing).
constexpr int kClientSlackMs = 300000;

Status Prefixed(const std::string& step, const Status& status) {
  return Status(status.error_code(), step + ": " + status.error_message());
}

}  // namespace

Status CaseSession::Open(const std::string& name, const CaseOptions& options,
                         std::unique_ptr<CaseSession>* session) {
  std::unique_ptr<Case> bench_case = MakeCase(name);
  if (bench_case == nullptr) {
    return Status(StatusCode::INVALID_ARGUMENT, "there is no case named " + name);
  }
  std::unique_ptr<CaseSession> opened(new CaseSession(name, std::move(bench_case)));
  Status status = opened->case_->Setup(options, &opened->server_args_);
  if (!status.ok()) return Prefixed("setup", status);
  opened->server_args_.insert(opened->server_args_.end(), options.server_words.begin(),
                              options.server_words.end());
  std::vector<std::string> args = {name};
  args.insert(args.end(), opened->server_args_.begin(), opened->server_args_.end());
  opened->client_cpu_ = options.client_cpu;
  opened->server_launcher_ = options.server_launcher;
  std::vector<std::string> own = opened->case_->Launcher("serve", opened->server_args_);
  opened->server_launcher_.insert(opened->server_launcher_.end(), own.begin(), own.end());
  status = opened->server_.Start("serve", args, kServerReadyTimeoutMs, options.server_cpu,
                                 opened->server_launcher_);
  if (!status.ok()) return Prefixed("starting the server", status);
  *session = std::move(opened);
  return Status::OK;
}

Job CaseSession::Complete(Job job) const {
  job.case_name = name_;
  job.server_args = server_args_;
  job.endpoint = server_.text();
  // A server started through a launcher may be out of the client's sight (another host's pid
  // namespace): its CPU time is not measured then.
  job.server_pid = server_launcher_.empty() ? server_.pid() : 0;
  return job;
}

Status CaseSession::Run(Job job, JobResult* result) {
  ChildProcess client;
  Status status = client.Start("client", Complete(job).ToWords(), kServerReadyTimeoutMs,
                               client_cpu_, case_->Launcher("client", server_args_));
  if (!status.ok()) return Prefixed("starting the client", status);
  int timeout_ms = kClientSlackMs + static_cast<int>(1000 * (job.max_seconds + job.idle_seconds));
  std::vector<std::string> lines;
  status = client.Finish(timeout_ms, &lines);
  if (!status.ok()) return status;
  return JobResult::FromLines(lines, result);
}

Status CaseSession::Hold(uint32_t connections, std::unique_ptr<ChildProcess>* holder) {
  Job job;
  job.mode = JobMode::kHold;
  job.connections = connections;
  Status status = Start(job, holder);
  return status.ok() ? status : Prefixed("starting the idle connections", status);
}

Status CaseSession::Start(Job job, std::unique_ptr<ChildProcess>* client) {
  auto started = std::make_unique<ChildProcess>();
  Status status = started->Start("client", Complete(job).ToWords(), kHolderReadyTimeoutMs, -1,
                                 case_->Launcher("client", server_args_));
  if (!status.ok()) return status;
  *client = std::move(started);
  return Status::OK;
}

Status CaseSession::Close() {
  Status status = server_.Stop();
  return status.ok() ? status : Prefixed("stopping the server", status);
}

}  // namespace notnets::bench
