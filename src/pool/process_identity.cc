#include "pool/process_identity.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace notnets::internal {

namespace {

// What /proc/<pid>/stat says of a process: its start time (0 if unknown) and whether it has
// exited (a zombie not yet reaped by its parent still answers kill(pid, 0)).
struct ProcStat {
  uint64_t start_ticks = 0;
  bool exited = false;
};

ProcStat ReadProcStat(int32_t pid) {
  ProcStat stat;
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return stat;
  char text[1024];
  ssize_t n = ::read(fd, text, sizeof(text) - 1);
  ::close(fd);
  if (n <= 0) return stat;
  text[n] = '\0';
  // The command name (field 2) may hold spaces; the fields after it start past the last ')'.
  const char* cursor = std::strrchr(text, ')');
  if (cursor == nullptr || cursor[1] != ' ') return stat;
  stat.exited = cursor[2] == 'Z' || cursor[2] == 'X';
  for (int field = 2; field < 22 && cursor != nullptr; ++field) {
    cursor = std::strchr(cursor + 1, ' ');
  }
  if (cursor != nullptr) stat.start_ticks = std::strtoull(cursor + 1, nullptr, 10);
  return stat;
}

}  // namespace

ProcessIdentity SelfIdentity() {
  int32_t pid = static_cast<int32_t>(::getpid());
  return ProcessIdentity{pid, ReadProcStat(pid).start_ticks};
}

bool IsAlive(const ProcessIdentity& identity) {
  if (identity.pid <= 0) return false;
  if (::kill(identity.pid, 0) != 0 && errno == ESRCH) return false;
  ProcStat stat = ReadProcStat(identity.pid);
  if (stat.exited) return false;
  return stat.start_ticks == 0 || identity.start_ticks == 0 ||
         stat.start_ticks == identity.start_ticks;
}

}  // namespace notnets::internal
