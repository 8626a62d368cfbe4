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

constexpr int kFileSlots = 16;
FileSlot g_files[kFileSlots];
// Registered child processes; 0 marks a free slot. A fleet (fleet.h) runs up to 4 servers and 8
// clients at once.
constexpr int kPidSlots = 32;
std::atomic<pid_t> g_children[kPidSlots];

void OnSignal(int signal_number) {
  static const char kMessage[] =
      "notnets-bench: interrupted; removing child processes and shared files\n";
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
  for (std::atomic<pid_t>& child : g_children) {
    pid_t pid = child.exchange(0);
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  for (FileSlot& slot : g_files) {
    if (slot.state.load(std::memory_order_acquire) == FileSlot::kArmed) unlink(slot.path);
  }
  _exit(code);
}

EmergencyKill::EmergencyKill(pid_t pid) : slot_(-1) {
  for (int i = 0; i < kPidSlots && slot_ < 0; ++i) {
    pid_t expected = 0;
    if (g_children[i].compare_exchange_strong(expected, pid)) slot_ = i;
  }
  if (slot_ < 0) std::abort();
}

EmergencyKill::~EmergencyKill() { g_children[slot_].store(0); }

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
