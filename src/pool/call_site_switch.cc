#include "pool/call_site_switch.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace notnets::internal {

namespace {

// The path from the repository's root of the source a compiler's file name stands for ("" if it
// is none in src/): the same for every build directory and however the compiler was handed the
// path. A layer's internal headers are compiled from copies in the build directory
// (layers/LAYER/internal/LAYER/FILE, see notnets_layer in CMakeLists.txt) for src/LAYER/FILE.
std::string SourcePath(const char* file) {
  std::string_view path(file);
  size_t internal = path.rfind("/internal/");
  if (internal != std::string_view::npos && path.find("layers/") < internal) {
    return "src/" + std::string(path.substr(internal + std::strlen("/internal/")));
  }
  size_t at = path.rfind("/src/");
  if (at != std::string_view::npos) return std::string(path.substr(at + 1));
  if (path.substr(0, 4) == "src/") return std::string(path);
  return {};
}

struct Settings {
  std::string turned_off;  // "src/pool/lease.cc:53", or empty
  const char* list = nullptr;
};

const Settings& settings() {
  static const Settings parsed = [] {
    Settings s;
    if (const char* site = std::getenv("NOTNETS_TURN_OFF_SITE")) s.turned_off = site;
    s.list = std::getenv("NOTNETS_LIST_SITES");
    return s;
  }();
  return parsed;
}

// Sites this process has listed, by a hash of path and line. Open addressing with
// compare-exchange rather than a lock: a process may fork while another thread lists.
constexpr size_t kListedSlots = 4096;
std::atomic<uint64_t> listed[kListedSlots];

bool FirstVisit(std::string_view path, int line) {
  uint64_t key = std::hash<std::string_view>{}(path)*31 + static_cast<uint64_t>(line);
  if (key == 0) key = 1;  // 0 marks an empty slot
  for (size_t probe = 0; probe < kListedSlots; ++probe) {
    std::atomic<uint64_t>& slot = listed[(key + probe) % kListedSlots];
    uint64_t seen = slot.load(std::memory_order_relaxed);
    if (seen == key) return false;
    if (seen == 0 && slot.compare_exchange_strong(seen, key)) return true;
    if (seen == key) return false;  // another thread took the empty slot for this very site
  }
  return false;
}

void List(const char* file_name, std::string_view path, int line, const char* primitive) {
  if (!FirstVisit(path, line)) return;
  std::string entry = std::string(path) + ":" + std::to_string(line) + " " + primitive + "\n";
  int fd = open(file_name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  [[maybe_unused]] ssize_t written = write(fd, entry.data(), entry.size());
  close(fd);
}

}  // namespace

bool CallSiteTurnedOff(CallSite site, const char* primitive) {
  const Settings& s = settings();
  if (s.list == nullptr && s.turned_off.empty()) return false;
  std::string path = SourcePath(site.file);
  if (path.empty()) return false;
  if (s.list != nullptr) List(s.list, path, site.line, primitive);
  if (s.turned_off.empty()) return false;
  std::string_view wanted(s.turned_off);
  size_t colon = wanted.rfind(':');
  return colon != std::string_view::npos && wanted.substr(0, colon) == path &&
         wanted.substr(colon + 1) == std::to_string(site.line);
}

}  // namespace notnets::internal
