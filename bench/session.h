// One case brought up in the parent: what its processes share, and its server process. Client
// processes run jobs against it, one at a time (and idle holders beside them).
#ifndef NOTNETS_BENCH_SESSION_H_
#define NOTNETS_BENCH_SESSION_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "case.h"
#include "job.h"
#include "notnets/status.h"
#include "process.h"

namespace notnets::bench {

// A case set up, with its server running.
class CaseSession {
 public:
  // Sets up case `name` and starts its server process. On failure nothing is left behind and the
  // status says which step failed and why.
  static Status Open(const std::string& name, const CaseOptions& options,
                     std::unique_ptr<CaseSession>* session);

  // Stops the server and removes what the case created, if Close has not.
  ~CaseSession() = default;
  CaseSession(const CaseSession&) = delete;
  CaseSession& operator=(const CaseSession&) = delete;

  // Runs `job` in a new client process (pinned to CaseOptions::client_cpu) against this session's
  // server (the job's case, server
  // arguments, endpoint and server pid are filled in here) and returns what it measured.
  Status Run(Job job, JobResult* result);

  // Starts a client process that holds `connections` idle clients open until `holder` is stopped
  // (ChildProcess::Stop) or destroyed. It is not pinned: it only sleeps once set up.
  Status Hold(uint32_t connections, std::unique_ptr<ChildProcess>* holder);

  // Starts a client process running `job` (not pinned) and returns once it has announced ready;
  // the caller finishes it (ChildProcess::Finish).
  Status Start(Job job, std::unique_ptr<ChildProcess>* client);

  // Kills the server with SIGKILL, as a crash would, and reaps it.
  void KillServer() { server_.Kill(); }

  // The server's process id, until Close.
  pid_t server_pid() const { return server_.pid(); }

  // Stops the server. Returns an error if it did not exit cleanly. The case's shared resources
  // go with the session.
  Status Close();

 private:
  CaseSession(std::string name, std::unique_ptr<Case> bench_case)
      : name_(std::move(name)), case_(std::move(bench_case)) {}

  // Fills in what every job against this session needs.
  Job Complete(Job job) const;

  std::string name_;
  // Destroyed in reverse: server, then the case's resources.
  std::unique_ptr<Case> case_;
  std::vector<std::string> server_args_;
  // CaseOptions::server_launcher, then the case's launcher for the server.
  std::vector<std::string> server_launcher_;
  int client_cpu_ = -1;  // the CPU measuring clients are pinned to, or -1
  ChildProcess server_;
};

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_SESSION_H_
