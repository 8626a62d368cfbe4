#include "process.h"

#include <fcntl.h>
#include <poll.h>
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

constexpr int kReadyTimeoutMs = 10000;
constexpr int kStopTimeoutMs = 5000;

Status ErrnoStatus(const char* what) {
  return Status(StatusCode::INTERNAL, std::string(what) + ": " + std::strerror(errno));
}

enum class ReadResult { kLine, kEndOfFile, kTimeout };

// Reads one '\n'-terminated line from `fd` into `*line` (without the '\n'), waiting at most
// `timeout_ms` in all.
ReadResult ReadLine(int fd, int timeout_ms, std::string* line) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  line->clear();
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return ReadResult::kTimeout;
    pollfd readable = {fd, POLLIN, 0};
    if (poll(&readable, 1, static_cast<int>(left.count())) <= 0) continue;
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ReadResult::kEndOfFile;
    if (c == '\n') return ReadResult::kLine;
    line->push_back(c);
  }
}

// Writes "<word> <text>\n" to `fd` in one write and closes it.
void Announce(int fd, std::string_view word, std::string_view text) {
  std::string line = std::string(word) + " " + std::string(text) + "\n";
  ssize_t ignored = write(fd, line.data(), line.size());
  (void)ignored;
  close(fd);
}

sigset_t StopSignalSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

ServerProcess::~ServerProcess() {
  if (pid_ >= 0) Stop();
}

Status ServerProcess::Start(const std::string& case_name,
                            const std::vector<std::string>& server_args) {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return ErrnoStatus("pipe2");
  std::vector<std::string> words = {"notnets-bench", "serve", case_name, std::to_string(ready[1])};
  words.insert(words.end(), server_args.begin(), server_args.end());
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);

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
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    fcntl(ready[1], F_SETFD, 0);
    execv("/proc/self/exe", argv.data());
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
  emergency_kill_ = std::make_unique<EmergencyKill>(pid);

  std::string line;
  ReadResult result = ReadLine(ready[0], kReadyTimeoutMs, &line);
  close(ready[0]);
  if (result == ReadResult::kLine && line.rfind("ready ", 0) == 0) {
    endpoint_ = line.substr(6);
    return Status::OK;
  }
  if (result == ReadResult::kTimeout) {
    kill(pid_, SIGKILL);
    Reap();
    return Status(StatusCode::UNAVAILABLE,
                  "server not ready within " + std::to_string(kReadyTimeoutMs / 1000) + " s");
  }
  if (!AwaitExit(kStopTimeoutMs)) kill(pid_, SIGKILL);
  std::string how = Reap();
  if (line.rfind("failed ", 0) == 0) {
    return Status(StatusCode::UNAVAILABLE, "server failed: " + line.substr(7));
  }
  return Status(StatusCode::UNAVAILABLE,
                "server " + (how.empty() ? "exited" : how) + " before it was ready");
}

Status ServerProcess::Stop() {
  if (pid_ < 0) return Status::OK;
  kill(pid_, SIGTERM);
  if (!AwaitExit(kStopTimeoutMs)) {
    kill(pid_, SIGKILL);
    Reap();
    return Status(StatusCode::DEADLINE_EXCEEDED, "server did not stop within " +
                                                     std::to_string(kStopTimeoutMs / 1000) +
                                                     " s of SIGTERM; killed it");
  }
  std::string how = Reap();
  if (how.empty()) return Status::OK;
  return Status(StatusCode::INTERNAL, "server " + how);
}

bool ServerProcess::AwaitExit(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    siginfo_t info = {};
    int flags = WEXITED | WNOWAIT | (timeout_ms < 0 ? 0 : WNOHANG);
    if (waitid(P_PID, pid_, &info, flags) == 0 && info.si_pid == pid_) return true;
    if (timeout_ms >= 0 && std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::string ServerProcess::Reap() {
  AwaitExit(-1);
  emergency_kill_.reset();  // Before reaping, so that the pid cannot have been reused.
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (WIFEXITED(status)) {
    if (WEXITSTATUS(status) == 0) return "";
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) return std::string("was killed by ") + strsignal(WTERMSIG(status));
  return "ended with wait status " + std::to_string(status);
}

int ServeMain(const std::vector<std::string>& args) {
  if (args.size() < 2) {
    std::fprintf(stderr, "usage: notnets-bench serve <case> <ready fd> [server args...]\n");
    return 2;
  }
  // Blocked before the case starts any thread, so that every thread inherits the mask.
  sigset_t stop = StopSignalSet();
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  const std::string& case_name = args[0];
  int ready_fd = std::atoi(args[1].c_str());
  std::vector<std::string> server_args(args.begin() + 2, args.end());
  bool announced = false;
  ReadyCallback ready = [&](std::string_view endpoint) {
    if (announced) return;
    Announce(ready_fd, "ready", endpoint);
    announced = true;
  };

  std::unique_ptr<Case> server = MakeCase(case_name);
  Status status = server != nullptr
                      ? server->Serve(server_args, ready)
                      : Status(StatusCode::INVALID_ARGUMENT, "no case named " + case_name);
  if (status.ok()) return 0;
  if (announced) {
    std::fprintf(stderr, "notnets-bench serve %s: %s\n", case_name.c_str(),
                 status.ToString().c_str());
  } else {
    Announce(ready_fd, "failed", status.ToString());
  }
  return 1;
}

void WaitForStopSignal() {
  sigset_t stop = StopSignalSet();
  int signal_number = 0;
  while (sigwait(&stop, &signal_number) != 0) {
  }
}

}  // namespace notnets::bench
