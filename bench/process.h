// Every server and client of a case runs in a process of its own. The parent starts one by
// running this executable again with a hidden subcommand ("serve" or "client"), and reads what the
// child reports through a pipe: a "ready <text>" or "failed <text>" line, then for clients their
// results, one line each. At the end the parent stops (servers) or awaits (clients) and reaps it.
#ifndef NOTNETS_BENCH_PROCESS_H_
#define NOTNETS_BENCH_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "emergency.h"
#include "notnets/status.h"

namespace notnets::bench {

// Parent side: one child process running a subcommand of this executable.
class ChildProcess {
 public:
  ChildProcess() = default;
  // Kills the child if it is still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts "notnets-bench <role> <pipe fd> <args...>", pinned to `cpu` unless it is -1, through
  // `launcher` if it is not empty (its words, then this executable's path and the rest), and
  // waits up to `ready_timeout_ms` for its "ready" line, whose text goes to text(). On failure no
  // process is left and the status says why (the child's own error if it sent one).
  Status Start(const std::string& role, const std::vector<std::string>& args, int ready_timeout_ms,
               int cpu = -1, const std::vector<std::string>& launcher = {});

  // What the child announced when it became ready.
  const std::string& text() const { return text_; }

  // The child's process id while it runs, -1 otherwise.
  pid_t pid() const { return pid_; }

  // Reads the child's lines until it closes the pipe or `timeout_ms` passes, then reaps it
  // (killing it on timeout). A line "failed <text>" or an unclean exit makes the status an error.
  Status Finish(int timeout_ms, std::vector<std::string>* lines);

  // Asks the child to stop (SIGTERM), kills it (SIGKILL) if it has not exited within a few
  // seconds, and reaps it. Returns OK only if it exited by itself with status 0.
  Status Stop();

  // Kills the child (SIGKILL), reaps it, and closes the pipe.
  void Kill();

 private:
  // Waits for the child to exit, up to `timeout_ms` (-1: forever), without reaping it.
  bool AwaitExit(int timeout_ms);
  // Reaps the exited child and describes how it ended; empty for a clean exit.
  std::string Reap();
  // Reads the child's next line (without its '\n'); false at end of file or after `timeout_ms`.
  bool ReadLine(int timeout_ms, std::string* line, bool* timed_out);

  pid_t pid_ = -1;
  int pipe_ = -1;
  std::string text_;
  std::string unread_;  // bytes read from the pipe after the last line returned
  std::unique_ptr<EmergencyKill> emergency_kill_;
};

// Child side: the pipe to the parent, from the first word after the subcommand.
class ParentPipe {
 public:
  explicit ParentPipe(int fd) : fd_(fd) {}
  // Closes the pipe.
  ~ParentPipe();
  ParentPipe(const ParentPipe&) = delete;
  ParentPipe& operator=(const ParentPipe&) = delete;

  // Sends "ready <text>" once; later calls do nothing.
  void Ready(std::string_view text);
  // Sends "failed <text>".
  void Failed(std::string_view text);
  // Sends one result line (no '\n' inside).
  void Line(std::string_view text);
  // True once Ready has been sent.
  bool announced() const { return announced_; }

 private:
  int fd_;
  bool announced_ = false;
};

// Child side: the main function of "notnets-bench serve <fd> <case> <server args...>"; `args`
// are the words after "serve". Returns the process exit status.
int ServeMain(const std::vector<std::string>& args);

// Child side: blocks until the parent asks the process to stop. ServeMain and ClientMain block
// the stop signal before starting any thread, so only this call receives it.
void WaitForStopSignal();

// Child side: blocks the stop signal in the calling thread (and the threads it starts later).
void BlockStopSignal();

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_PROCESS_H_
