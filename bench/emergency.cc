#include "emergency.h"

#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace notnets::bench {
namespace {

// A registered file. `state` is kFree, kClaimed (path being written) or kArmed (path valid).
struct FileSlot {
  enum State : int { kFree, kClaimed, kArmed };
  std::atomic<int> state{kFree};
  char path[PATH_MAX];
};

constexpr int kFileSlots = 4;
FileSlot g_files[kFileSlots];
std::atomic<pid_t> g_server{0};

void OnSignal(int signal_number) {
  static const char kMessage[] = "notnets-bench: interrupted; removing the server and pool\n";
  ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  (void)ignored;
  EmergencyExit(128 + signal_number);
}

}  // namespace

void InstallEmergencyHandlers() {
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) sigaction(signal_number, &action, nullptr);
}

void EmergencyExit(int code) {
  pid_t server = g_server.exchange(0);
  if (server > 0) {
    kill(server, SIGKILL);
    waitpid(server, nullptr, 0);
  }
  for (FileSlot& slot : g_files) {
    if (slot.state.load(std::memory_order_acquire) == FileSlot::kArmed) unlink(slot.path);
  }
  _exit(code);
}

EmergencyKill::EmergencyKill(pid_t pid) { g_server.store(pid); }

EmergencyKill::~EmergencyKill() { g_server.store(0); }

EmergencyUnlink::EmergencyUnlink(const std::string& path) : slot_(-1) {
  if (path.size() >= PATH_MAX) std::abort();
  for (int i = 0; i < kFileSlots && slot_ < 0; ++i) {
    int expected = FileSlot::kFree;
    if (g_files[i].state.compare_exchange_strong(expected, FileSlot::kClaimed)) slot_ = i;
  }
  if (slot_ < 0) std::abort();
  std::memcpy(g_files[slot_].path, path.c_str(), path.size() + 1);
  g_files[slot_].state.store(FileSlot::kArmed, std::memory_order_release);
}

EmergencyUnlink::~EmergencyUnlink() { g_files[slot_].state.store(FileSlot::kFree); }

}  // namespace notnets::bench
