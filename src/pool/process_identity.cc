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

// Reads the start time of `pid`; 0 if unknown.
uint64_t StartTicks(int32_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[1024];
  ssize_t n = ::read(fd, text, sizeof(text) - 1);
  ::close(fd);
  if (n <= 0) return 0;
  text[n] = '\0';
  // The command name (field 2) may hold spaces; fields after it start past the last ')'.
  const char* cursor = std::strrchr(text, ')');
  if (cursor == nullptr) return 0;
  for (int field = 2; field < 22 && cursor != nullptr; ++field) {
    cursor = std::strchr(cursor + 1, ' ');
  }
  return cursor == nullptr ? 0 : std::strtoull(cursor + 1, nullptr, 10);
}

}  // namespace

ProcessIdentity SelfIdentity() {
  int32_t pid = static_cast<int32_t>(::getpid());
  return ProcessIdentity{pid, StartTicks(pid)};
}

bool IsAlive(const ProcessIdentity& identity) {
  if (identity.pid <= 0) return false;
  if (::kill(identity.pid, 0) != 0 && errno == ESRCH) return false;
  uint64_t ticks = StartTicks(identity.pid);
  return ticks == 0 || identity.start_ticks == 0 || ticks == identity.start_ticks;
}

}  // namespace notnets::internal
