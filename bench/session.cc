#include "session.h"

namespace notnets::bench {
namespace {

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
  std::unique_ptr<CaseSession> opened(new CaseSession(std::move(bench_case)));
  std::vector<std::string> server_args;
  Status status = opened->case_->Setup(options, &server_args);
  if (!status.ok()) return Prefixed("setup", status);
  status = opened->server_.Start(name, server_args);
  if (!status.ok()) return Prefixed("starting the server", status);
  status = opened->case_->Connect(opened->server_.endpoint(), &opened->client_);
  if (!status.ok()) return Prefixed("connecting", status);
  *session = std::move(opened);
  return Status::OK;
}

Status CaseSession::Close() {
  client_.reset();
  Status status = server_.Stop();
  return status.ok() ? status : Prefixed("stopping the server", status);
}

}  // namespace notnets::bench
