#include "process_cpu.h"

#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace hotel {
namespace {

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// True if `cmdline` (arguments each ended by a NUL) holds "--tag" then `tag`. The pair is
// matched, not the tag alone, so that a wrapper or a load generator naming the tag is not counted.
bool HasTag(const std::string& cmdline, const std::string& tag) {
  std::string pair = std::string("--tag") + '\0' + tag + '\0';
  return cmdline.find(pair) != std::string::npos;
}

// utime + stime in clock ticks from /proc/<pid>/stat: the 14th and 15th fields of the line,
// counted past the command name, which may hold spaces (hence the last ')').
long TicksOf(const std::string& stat) {
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::atol(field.c_str());
    if (i == 15) stime = std::atol(field.c_str());
  }
  return utime + stime;
}

}  // namespace

double CpuSecondsOfTagged(const std::string& tag, int* processes) {
  long ticks = 0;
  *processes = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    std::string name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    if (!HasTag(ReadAll(entry.path() / "cmdline"), tag)) continue;
    ticks += TicksOf(ReadAll(entry.path() / "stat"));
    ++*processes;
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace hotel
