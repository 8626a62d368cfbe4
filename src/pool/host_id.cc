#include "pool/host_id.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace notnets::internal {

namespace {

uint64_t Hash(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ull;
  return hash == 0 ? 1 : hash;
}

// The kernel's boot id: new at every boot, the same in every namespace of one kernel. Empty if it
// cannot be read (then every such process counts as one host, the safe side: liveness by lock).
std::string BootId() {
  int fd = ::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::string();
  char text[64] = {};
  ssize_t n = ::read(fd, text, sizeof(text) - 1);
  ::close(fd);
  return n > 0 ? std::string(text, static_cast<size_t>(n)) : std::string();
}

}  // namespace

uint64_t HostIdFor(const std::string& configured) { return Hash("env:" + configured); }

uint64_t HostId() {
  static const uint64_t id = [] {
    const char* configured = std::getenv("NOTNETS_HOST_ID");
    if (configured != nullptr && configured[0] != '\0')
      return Hash(std::string("env:") + configured);
    return Hash("boot:" + BootId());
  }();
  return id;
}

}  // namespace notnets::internal
