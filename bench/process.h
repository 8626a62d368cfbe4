// The server of a case runs in a process of its own. The parent starts it by running this
// executable again with the hidden subcommand "serve", learns through a pipe when it is ready (or
// why it failed), and at the end stops and reaps it.
#ifndef NOTNETS_BENCH_PROCESS_H_
#define NOTNETS_BENCH_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "emergency.h"
#include "notnets/status.h"

namespace notnets::bench {

// Parent side: one server process.
class ServerProcess {
 public:
  ServerProcess() = default;
  // Stops the server if it is still running.
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the server of case `case_name` with `server_args` and waits until it is ready. On
  // failure no process is left and the status says why (the server's own error if it sent one).
  Status Start(const std::string& case_name, const std::vector<std::string>& server_args);

  // What the server announced when it became ready (see ReadyCallback).
  const std::string& endpoint() const { return endpoint_; }

  // The server's process id while it runs, -1 otherwise.
  pid_t pid() const { return pid_; }

  // Asks the server to stop (SIGTERM), kills it (SIGKILL) if it has not exited within a few
  // seconds, and reaps it. Returns OK only if it exited by itself with status 0.
  Status Stop();

 private:
  // Waits for the server to exit, up to `timeout_ms` (-1: forever), without reaping it.
  bool AwaitExit(int timeout_ms);
  // Reaps the exited server and describes how it ended; empty for a clean exit.
  std::string Reap();

  pid_t pid_ = -1;
  std::string endpoint_;
  std::unique_ptr<EmergencyKill> emergency_kill_;
};

// Server side: the main function of "notnets-bench serve <case> <ready fd> <server args...>";
// `args` are the words after "serve". Returns the process exit status.
int ServeMain(const std::vector<std::string>& args);

// Server side: blocks until the parent asks the server to stop. ServeMain blocks the stop signal
// before the case starts any thread, so only this call receives it.
void WaitForStopSignal();

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_PROCESS_H_
