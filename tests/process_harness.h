// The multi-process test harness shared by multiprocess_test.cc, stress_test.cc and
// fault_injection_test.cc: notnets_test_peer (NOTNETS_TEST_PEER) child processes whose stdout the
// test reads, and starting and stopping its `serve` mode.
#ifndef NOTNETS_TESTS_PROCESS_HARNESS_H_
#define NOTNETS_TESTS_PROCESS_HARNESS_H_

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "notnets/channel.h"
#include "notnets/pool.h"
#include "test_pool.h"

#ifndef NOTNETS_TEST_PEER
#error "NOTNETS_TEST_PEER must name the notnets_test_peer executable"
#endif

extern char** environ;

namespace notnets::process_test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Bounds for "did not hang" only; generous so that sanitizer builds pass too.
constexpr milliseconds kStartBound = seconds(30);
constexpr milliseconds kHangBound = seconds(15);

// Skips the test when the library was built without its crash points, which a test peer reaches
// through NOTNETS_CRASH_AT (pool/crash_point.h).
#ifdef NOTNETS_FAULT_INJECTION
#define NOTNETS_SKIP_WITHOUT_CRASH_POINTS() static_cast<void>(0)
#else
#define NOTNETS_SKIP_WITHOUT_CRASH_POINTS()                                         \
  GTEST_SKIP() << "the library was built without its crash points: configure with " \
                  "-DNOTNETS_FAULT_INJECTION=ON (scripts/test.sh does) to run these tests"
#endif

// A notnets_test_peer child process with its stdout on a pipe. Killed and reaped on destruction if
// still running.
class PeerProcess {
 public:
  // `environment` holds "NAME=VALUE" entries added to (or replacing those of) this process's
  // environment, e.g. "NOTNETS_CRASH_AT=server.after_accept". `launcher`, if given, is a command
  // that runs the peer (e.g. unshare with its options): it is executed with the peer's command
  // line appended.
  explicit PeerProcess(const std::vector<std::string>& args,
                       const std::vector<std::string>& environment = {},
                       const std::vector<std::string>& launcher = {}) {
    std::vector<std::string> argv_strings = launcher;
    argv_strings.push_back(NOTNETS_TEST_PEER);
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : argv_strings) argv.push_back(arg.data());
    argv.push_back(nullptr);
    // Built before fork: the child may only make async-signal-safe calls.
    std::vector<std::string> env_strings;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      std::string_view inherited(*entry);
      bool replaced = false;
      for (const std::string& added : environment) {
        std::string_view name = std::string_view(added).substr(0, added.find('='));
        replaced = replaced || (inherited.size() > name.size() && inherited[name.size()] == '=' &&
                                inherited.substr(0, name.size()) == name);
      }
      if (!replaced) env_strings.emplace_back(inherited);
    }
    env_strings.insert(env_strings.end(), environment.begin(), environment.end());
    std::vector<char*> envp;
    for (std::string& entry : env_strings) envp.push_back(entry.data());
    envp.push_back(nullptr);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << std::strerror(errno);
      return;
    }
    pid_ = fork();
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      dup2(fds[1], STDOUT_FILENO);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(fds[1]);
    if (pid_ < 0) {
      ADD_FAILURE() << "fork: " << std::strerror(errno);
      close(fds[0]);
      return;
    }
    out_ = fds[0];
  }

  ~PeerProcess() {
    if (running()) {
      kill(pid_, SIGKILL);
      Wait(kHangBound);
    }
    if (out_ >= 0) close(out_);
  }

  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !wait_status_.has_value(); }

  // Reads stdout until a line equal to `line`; false at end of output or after `timeout`.
  bool WaitForLine(const std::string& line, milliseconds timeout) {
    return WaitForLineStarting(line, timeout, true);
  }

  // The same for a line that starts with `prefix` (or equals it, if `whole`).
  bool WaitForLineStarting(const std::string& prefix, milliseconds timeout, bool whole = false) {
    auto give_up = Clock::now() + timeout;
    while (true) {
      for (size_t end; (end = output_.find('\n', consumed_)) != std::string::npos;) {
        size_t length = end - consumed_;
        bool found = (whole || length >= prefix.size()) &&
                     output_.compare(consumed_, whole ? length : prefix.size(), prefix) == 0;
        consumed_ = end + 1;
        if (found) return true;
      }
      if (!ReadSome(give_up)) return false;
    }
  }

  // Reads what arrives on stdout within `timeout`, until its end.
  void ReadFor(milliseconds timeout) {
    auto give_up = Clock::now() + timeout;
    while (ReadSome(give_up)) {
    }
  }
  // True once stdout reached its end (the process exited or closed it).
  bool output_ended() const { return output_ended_; }
  const std::string& output() const { return output_; }

  void Signal(int signal_number) {
    if (running()) kill(pid_, signal_number);
  }

  // Stops the process (SIGSTOP) and returns once every thread of it has stopped: the signal alone
  // may leave it running for a while. False if it is not running, or exited instead.
  bool Stop() {
    if (!running()) return false;
    kill(pid_, SIGSTOP);
    int status;
    pid_t reaped;
    do {
      reaped = waitpid(pid_, &status, WUNTRACED);
    } while (reaped < 0 && errno == EINTR);
    if (reaped == pid_ && WIFSTOPPED(status)) return true;
    wait_status_ = reaped == pid_ ? status : -1;
    return false;
  }

  // Reaps the process; its wait status, or nullopt if it did not exit within `timeout`.
  std::optional<int> Wait(milliseconds timeout) {
    auto give_up = Clock::now() + timeout;
    while (running()) {
      int status;
      pid_t reaped = waitpid(pid_, &status, WNOHANG);
      if (reaped == pid_ || (reaped < 0 && errno != EINTR)) {
        wait_status_ = reaped == pid_ ? status : -1;
        break;
      }
      if (Clock::now() >= give_up) return std::nullopt;
      std::this_thread::sleep_for(milliseconds(2));
    }
    return wait_status_;
  }

 private:
  // Appends what the pipe holds to output_; false at end of output or at `give_up`.
  bool ReadSome(Clock::time_point give_up) {
    if (out_ < 0 || output_ended_) return false;
    auto left = std::chrono::duration_cast<milliseconds>(give_up - Clock::now()).count();
    if (left <= 0) return false;
    pollfd readable{out_, POLLIN, 0};
    int ready = poll(&readable, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) return true;
    if (ready <= 0) return false;
    char bytes[4096];
    ssize_t n = read(out_, bytes, sizeof(bytes));
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) {
      output_ended_ = true;
      return false;
    }
    output_.append(bytes, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  bool output_ended_ = false;
  std::string output_;
  size_t consumed_ = 0;
  std::optional<int> wait_status_;
};

// The segment files of the pool at `pool_path` that end with `suffix` ("" for all of them).
inline std::vector<std::string> SegmentFiles(const std::string& pool_path,
                                             const std::string& suffix) {
  size_t slash = pool_path.rfind('/');
  std::string directory = pool_path.substr(0, slash);
  std::string prefix = pool_path.substr(slash + 1) + ".seg.";
  std::vector<std::string> files;
  DIR* listing = ::opendir(directory.c_str());
  if (listing == nullptr) return files;
  while (const dirent* entry = ::readdir(listing)) {
    std::string name = entry->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      files.push_back(name);
    }
  }
  ::closedir(listing);
  return files;
}

inline std::string UniquePoolName() {
  static std::atomic<int> counter{0};
  return notnets::testing::InTestPoolDirectory("mp-" + std::to_string(getpid()) + "-" +
                                               std::to_string(++counter));
}

// The environment of a `serve` peer that registers as one replica of test.Echo among others.
inline const std::vector<std::string> kAsReplica = {"NOTNETS_TEST_REPLICA=1"};

// Starts `serve POOL WORKERS` (with `environment` added, through `launcher`, see PeerProcess) and
// waits until it is serving.
//
// A server started through a launcher (on an emulated host) that is refused with ALREADY_EXISTS
// is started again until the bound: a predecessor killed with its host dies only after the
// launcher the test reaped (--pdeathsig), and one on another host is known dead only once its
// lease runs out; until then the name is served, and a second server is refused, as it should be.
// On one host a reaped predecessor is dead at once, and a refusal is a failure.
inline std::unique_ptr<PeerProcess> StartServer(const std::string& pool_name, int workers,
                                                const std::vector<std::string>& environment = {},
                                                const std::vector<std::string>& launcher = {}) {
  auto give_up = Clock::now() + kStartBound;
  while (true) {
    auto server = std::make_unique<PeerProcess>(
        std::vector<std::string>{"serve", pool_name, std::to_string(workers)}, environment,
        launcher);
    bool ready = server->WaitForLine("ready", kStartBound);
    bool predecessor_dying =
        !launcher.empty() && server->output().find("ALREADY_EXISTS") != std::string::npos;
    if (ready || !predecessor_dying || Clock::now() > give_up) {
      EXPECT_TRUE(ready) << "the server did not start: " << server->output();
      return server;
    }
    server->Wait(kHangBound);
    std::this_thread::sleep_for(milliseconds(50));
  }
}

// Connects to the test peer's "test.Echo" in `pool`, waiting up to 10 s for it to register;
// with `pool_blocks`, its messages are blocks of the pool's heap instead of its arenas.
inline std::shared_ptr<Channel> ConnectToTestService(const std::shared_ptr<Pool>& pool,
                                                     bool pool_blocks = false) {
  std::shared_ptr<Channel> channel;
  ChannelOptions options;
  if (pool_blocks) options.connection_arena_bytes = 0;
  options.wait_for_service = std::chrono::seconds(10);
  Status status = Channel::Connect(pool, "test.Echo", options, &channel);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return channel;
}

// Emulated hosts (scripts/emulated-hosts.sh): a peer started with OnEmulatedHost as its launcher
// runs as pid 1 of namespaces of its own (pid, mount, network, UTS, IPC) with only the pool's files
// shared and NOTNETS_HOST_ID=host_id, so that its peers elsewhere judge it by lease.
#ifdef NOTNETS_EMULATED_HOSTS_SCRIPT
inline std::vector<std::string> OnEmulatedHost(const std::string& host_id,
                                               const std::string& pool_name) {
  return {"/usr/bin/env", "bash", NOTNETS_EMULATED_HOSTS_SCRIPT, "run", host_id, pool_name};
}

// Empty if hosts can be emulated here, else why not (not root; unshare refused).
inline std::string WhyHostsCannotBeEmulated(const std::string& pool_name) {
  if (::geteuid() != 0) return "needs root for unshare";
  PeerProcess probe({"no-such-mode"}, {}, OnEmulatedHost("probe", pool_name));
  std::optional<int> status = probe.Wait(kHangBound);
  if (!status.has_value() || !WIFEXITED(*status) || WEXITSTATUS(*status) != 2) {
    return "scripts/emulated-hosts.sh does not run here";
  }
  return std::string();
}

// Sends `signal_number` to every process of the emulated host `host` runs: those in the pid
// namespace of its pid 1 (SIGKILL of `host` itself is enough to kill them all). A SIGSTOP returns
// once they have all stopped.
inline void SignalHost(const PeerProcess& host, int signal_number) {
  auto read_text = [](const std::string& path) {
    std::string text;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return text;
    char bytes[256];
    for (ssize_t n; (n = ::read(fd, bytes, sizeof(bytes))) > 0;) text.append(bytes, n);
    ::close(fd);
    return text;
  };
  auto namespace_of = [](const std::string& pid) {
    char link[128] = {};
    ssize_t n = ::readlink(("/proc/" + pid + "/ns/pid").c_str(), link, sizeof(link) - 1);
    return n > 0 ? std::string(link, static_cast<size_t>(n)) : std::string();
  };
  std::string pid = std::to_string(host.pid());
  std::string first_child = read_text("/proc/" + pid + "/task/" + pid + "/children");
  first_child = first_child.substr(0, first_child.find(' '));
  std::string target = first_child.empty() ? std::string() : namespace_of(first_child);
  ASSERT_FALSE(target.empty()) << "the emulated host has no process";
  auto numeric_entries = [](const std::string& path) {
    std::vector<std::string> names;
    if (DIR* dir = ::opendir(path.c_str())) {
      while (dirent* entry = ::readdir(dir)) {
        std::string name = entry->d_name;
        if (name.find_first_not_of("0123456789") == std::string::npos) names.push_back(name);
      }
      ::closedir(dir);
    }
    return names;
  };
  std::vector<std::string> signalled;
  for (const std::string& process : numeric_entries("/proc")) {
    if (namespace_of(process) != target) continue;
    ::kill(std::stoi(process), signal_number);
    signalled.push_back(process);
  }
  if (signal_number != SIGSTOP) return;
  // kill() only queues the stop: each thread stops when it next leaves the kernel. Waits until
  // every thread of every process is stopped (or gone), as PeerProcess::Stop does for its child.
  auto stopped = [&](const std::string& process) {
    for (const std::string& thread : numeric_entries("/proc/" + process + "/task")) {
      std::string stat = read_text("/proc/" + process + "/task/" + thread + "/stat");
      size_t comm_end = stat.rfind(')');
      if (comm_end == std::string::npos || comm_end + 2 >= stat.size()) continue;  // gone
      if (std::string_view("TtZX").find(stat[comm_end + 2]) == std::string_view::npos) {
        return false;
      }
    }
    return true;
  };
  auto give_up = Clock::now() + kHangBound;
  for (const std::string& process : signalled) {
    while (!stopped(process)) {
      ASSERT_LT(Clock::now(), give_up) << "process " << process << " of the host did not stop";
      std::this_thread::sleep_for(milliseconds(1));
    }
  }
}
#endif

// SIGTERM, then expects a clean exit.
inline void StopServer(PeerProcess* server) {
  server->Signal(SIGTERM);
  std::optional<int> status = server->Wait(kHangBound);
  ASSERT_TRUE(status.has_value()) << "the server did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
}

}  // namespace notnets::process_test

#endif  // NOTNETS_TESTS_PROCESS_HARNESS_H_
