// One case brought up end to end in the parent: what client and server share, the server
// process, and a client connected to it.
#ifndef NOTNETS_BENCH_SESSION_H_
#define NOTNETS_BENCH_SESSION_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "case.h"
#include "notnets/status.h"
#include "process.h"

namespace notnets::bench {

class CaseSession {
 public:
  // Sets up case `name`, starts its server process and connects a client. On failure nothing is
  // left behind and the status says which step failed and why.
  static Status Open(const std::string& name, const CaseOptions& options,
                     std::unique_ptr<CaseSession>* session);

  // Disconnects, stops the server and removes what the case created, if Close has not.
  ~CaseSession() = default;
  CaseSession(const CaseSession&) = delete;
  CaseSession& operator=(const CaseSession&) = delete;

  // The connected client, until Close.
  EchoClient* client() const { return client_.get(); }

  // The server's process id, until Close.
  pid_t server_pid() const { return server_.pid(); }

  // Disconnects the client and stops the server. Returns an error if the server did not exit
  // cleanly. The case's shared resources go with the session.
  Status Close();

 private:
  explicit CaseSession(std::unique_ptr<Case> bench_case) : case_(std::move(bench_case)) {}

  // Destroyed in reverse: client, then server, then the case's resources.
  std::unique_ptr<Case> case_;
  ServerProcess server_;
  std::unique_ptr<EchoClient> client_;
};

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_SESSION_H_
