#include "roudi.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace notnets::bench {
namespace {

constexpr char kReadyLine[] = "RouDi is ready for clients";
constexpr auto kReadyTimeout = std::chrono::seconds(10);
constexpr auto kStopTimeout = std::chrono::seconds(10);

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// True once `pid` has exited; it is left to reap.
bool Exited(pid_t pid) {
  siginfo_t info = {};
  return waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

}  // namespace

RouDi::~RouDi() { Stop(); }

std::vector<std::string> RouDi::Leftovers() {
  const passwd* user = getpwuid(getuid());
  std::vector<std::string> files = {"/dev/shm/iceoryx_mgmt", "/tmp/roudi", "/tmp/roudi.lock",
                                    "/tmp/iox-unique-roudi.lock"};
  if (user != nullptr) files.push_back(std::string("/dev/shm/") + user->pw_name);
  return files;
}

Status RouDi::Start() {
  log_path_ = "/tmp/notnets-bench-roudi-" + std::to_string(getpid()) + ".log";
  int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log < 0) return Status(StatusCode::INTERNAL, "cannot create " + log_path_);
  unlink_log_on_emergency_ = std::make_unique<EmergencyUnlink>(log_path_);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    execlp("iox-roudi", "iox-roudi", "--log-level", "warning", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(log);
  if (pid < 0) return Status(StatusCode::INTERNAL, "fork failed");
  pid_ = pid;
  kill_on_emergency_ = std::make_unique<EmergencyKill>(pid);
  auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
  while (ReadFile(log_path_).find(kReadyLine) == std::string::npos) {
    bool exited = Exited(pid_);
    if (exited || std::chrono::steady_clock::now() >= deadline) {
      if (!exited) kill(pid_, SIGKILL);
      Reap();
      std::string log_text = ReadFile(log_path_);
      unlink(log_path_.c_str());
      unlink_log_on_emergency_.reset();
      return Status(
          StatusCode::UNAVAILABLE,
          std::string("iox-roudi ") + (exited ? "exited" : "was not ready within 10 s") +
              " (is iceoryx installed, and is another RouDi running?); its log: " + log_text);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Registered only now: before, the files may belong to another RouDi.
  for (const std::string& file : Leftovers()) {
    unlink_on_emergency_.push_back(std::make_unique<EmergencyUnlink>(file));
  }
  return Status::OK;
}

void RouDi::Stop() {
  if (pid_ < 0) return;
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
  bool exited = false;
  while (!(exited = Exited(pid_)) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!exited) kill(pid_, SIGKILL);
  Reap();
  for (const std::string& file : Leftovers()) unlink(file.c_str());
  unlink_on_emergency_.clear();
  unlink(log_path_.c_str());
  unlink_log_on_emergency_.reset();
}

void RouDi::Reap() {
  siginfo_t info = {};
  waitid(P_PID, pid_, &info, WEXITED | WNOWAIT);
  kill_on_emergency_.reset();  // Before reaping, so that the pid cannot have been reused.
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace notnets::bench
