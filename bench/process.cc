#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "case.h"

namespace notnets::bench {
namespace {

constexpr int kStopTimeoutMs = 5000;

// INTERNAL naming `what` and errno.
Status ErrnoStatus(const char* what) {
  return Status(StatusCode::INTERNAL, std::string(what) + ": " + std::strerror(errno));
}

// The signal that asks a child to stop: SIGTERM.
sigset_t StopSignalSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  return set;
}

// Writes all of `text` to `fd`.
void WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

ChildProcess::~ChildProcess() {
  if (pid_ >= 0) Kill();
}

Status ChildProcess::Start(const std::string& role, const std::vector<std::string>& args,
                           int ready_timeout_ms, int cpu,
                           const std::vector<std::string>& launcher) {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return ErrnoStatus("pipe2");
  std::vector<std::string> words = launcher;
  if (launcher.empty()) {
    words.push_back("notnets-bench");
  } else {
    char self[4096] = {};
    if (readlink("/proc/self/exe", self, sizeof(self) - 1) <= 0) {
      close(ready[0]);
      close(ready[1]);
      return ErrnoStatus("readlink /proc/self/exe");
    }
    words.push_back(self);
  }
  words.push_back(role);
  words.push_back(std::to_string(ready[1]));
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);

  cpu_set_t pinned;
  CPU_ZERO(&pinned);
  if (cpu >= 0) CPU_SET(cpu, &pinned);

  // Signals stay blocked across fork so that the child never runs the parent's handlers.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    struct sigaction default_action = {};
    default_action.sa_handler = SIG_DFL;
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
      sigaction(signal_number, &default_action, nullptr);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    if (cpu >= 0 && sched_setaffinity(0, sizeof(pinned), &pinned) != 0) _exit(126);
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    fcntl(ready[1], F_SETFD, 0);
    execv(launcher.empty() ? "/proc/self/exe" : argv[0], argv.data());
    _exit(127);
  }
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  close(ready[1]);
  if (pid < 0) {
    close(ready[0]);
    errno = fork_errno;
    return ErrnoStatus("fork");
  }
  pid_ = pid;
  pipe_ = ready[0];
  emergency_kill_ = std::make_unique<EmergencyKill>(pid);

  std::string line;
  bool timed_out = false;
  bool got = ReadLine(ready_timeout_ms, &line, &timed_out);
  if (got && line.rfind("ready ", 0) == 0) {
    text_ = line.substr(6);
    return Status::OK;
  }
  if (timed_out) {
    Kill();
    return Status(StatusCode::UNAVAILABLE,
                  role + " not ready within " + std::to_string(ready_timeout_ms / 1000) + " s");
  }
  if (!AwaitExit(kStopTimeoutMs)) kill(pid_, SIGKILL);
  std::string how = Reap();
  if (got && line.rfind("failed ", 0) == 0) {
    return Status(StatusCode::UNAVAILABLE, role + " failed: " + line.substr(7));
  }
  return Status(StatusCode::UNAVAILABLE,
                role + " " + (how.empty() ? "exited" : how) + " before it was ready");
}

bool ChildProcess::ReadLine(int timeout_ms, std::string* line, bool* timed_out) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  *timed_out = false;
  for (;;) {
    size_t newline = unread_.find('\n');
    if (newline != std::string::npos) {
      *line = unread_.substr(0, newline);
      unread_.erase(0, newline + 1);
      return true;
    }
    if (pipe_ < 0) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      *timed_out = true;
      return false;
    }
    pollfd readable = {pipe_, POLLIN, 0};
    if (poll(&readable, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[4096];
    ssize_t n = read(pipe_, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(pipe_);
      pipe_ = -1;
      continue;
    }
    unread_.append(chunk, static_cast<size_t>(n));
  }
}

Status ChildProcess::Finish(int timeout_ms, std::vector<std::string>* lines) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string line;
  std::string failure;
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!ReadLine(static_cast<int>(std::max<int64_t>(left.count(), 1)), &line, &timed_out)) break;
    if (line.rfind("failed ", 0) == 0) {
      failure = line.substr(7);
    } else {
      lines->push_back(line);
    }
  }
  if (timed_out) {
    Kill();
    return Status(StatusCode::DEADLINE_EXCEEDED,
                  "client did not finish within " + std::to_string(timeout_ms / 1000) + " s");
  }
  if (!AwaitExit(kStopTimeoutMs)) kill(pid_, SIGKILL);
  std::string how = Reap();
  if (!failure.empty()) return Status(StatusCode::INTERNAL, failure);
  if (!how.empty()) return Status(StatusCode::INTERNAL, "client " + how);
  return Status::OK;
}

Status ChildProcess::Stop() {
  if (pid_ < 0) return Status::OK;
  kill(pid_, SIGTERM);
  if (!AwaitExit(kStopTimeoutMs)) {
    Kill();
    return Status(StatusCode::DEADLINE_EXCEEDED, "did not stop within " +
                                                     std::to_string(kStopTimeoutMs / 1000) +
                                                     " s of SIGTERM; killed it");
  }
  std::string how = Reap();
  if (how.empty()) return Status::OK;
  return Status(StatusCode::INTERNAL, how);
}

void ChildProcess::Kill() {
  if (pid_ < 0) return;
  kill(pid_, SIGKILL);
  Reap();
}

bool ChildProcess::AwaitExit(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    siginfo_t info = {};
    int flags = WEXITED | WNOWAIT | (timeout_ms < 0 ? 0 : WNOHANG);
    if (waitid(P_PID, pid_, &info, flags) == 0 && info.si_pid == pid_) return true;
    if (timeout_ms >= 0 && std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::string ChildProcess::Reap() {
  AwaitExit(-1);
  emergency_kill_.reset();  // Before reaping, so that the pid cannot have been reused.
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (pipe_ >= 0) {
    close(pipe_);
    pipe_ = -1;
  }
  if (WIFEXITED(status)) {
    if (WEXITSTATUS(status) == 0) return "";
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) return std::string("was killed by ") + strsignal(WTERMSIG(status));
  return "ended with wait status " + std::to_string(status);
}

ParentPipe::~ParentPipe() { close(fd_); }

void ParentPipe::Ready(std::string_view text) {
  if (announced_) return;
  WriteAll(fd_, "ready " + std::string(text) + "\n");
  announced_ = true;
}

void ParentPipe::Failed(std::string_view text) {
  std::string line = "failed " + std::string(text);
  for (char& c : line) {
    if (c == '\n') c = ' ';
  }
  WriteAll(fd_, line + "\n");
}

void ParentPipe::Line(std::string_view text) { WriteAll(fd_, std::string(text) + "\n"); }

int ServeMain(const std::vector<std::string>& args) {
  if (args.size() < 2) {
    std::fprintf(stderr, "usage: notnets-bench serve <ready fd> <case> [server args...]\n");
    return 2;
  }
  // Blocked before the case starts any thread, so that every thread inherits the mask.
  BlockStopSignal();
  ParentPipe parent(std::atoi(args[0].c_str()));
  const std::string& case_name = args[1];
  std::vector<std::string> server_args(args.begin() + 2, args.end());
  ReadyCallback ready = [&](std::string_view endpoint) { parent.Ready(endpoint); };

  std::unique_ptr<Case> server = MakeCase(case_name);
  Status status = server != nullptr
                      ? server->Serve(server_args, ready)
                      : Status(StatusCode::INVALID_ARGUMENT, "no case named " + case_name);
  if (status.ok()) return 0;
  if (parent.announced()) {
    std::fprintf(stderr, "notnets-bench serve %s: %s\n", case_name.c_str(),
                 status.ToString().c_str());
  } else {
    parent.Failed(status.ToString());
  }
  return 1;
}

void BlockStopSignal() {
  sigset_t stop = StopSignalSet();
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
}

void WaitForStopSignal() {
  sigset_t stop = StopSignalSet();
  int signal_number = 0;
  while (sigwait(&stop, &signal_number) != 0) {
  }
}

}  // namespace notnets::bench
