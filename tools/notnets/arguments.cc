#include "arguments.h"

#include <cerrno>
#include <cstdlib>

namespace notnets::tool {

bool ParseSize(const std::string& text, uint64_t* bytes) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return false;  // strtoull would take a sign
  char* end = nullptr;
  errno = 0;
  uint64_t value = std::strtoull(text.c_str(), &end, 10);
  if (errno == ERANGE) return false;
  int shift = 0;
  switch (*end) {
    case 'k':
    case 'K':
      shift = 10;
      ++end;
      break;
    case 'm':
    case 'M':
      shift = 20;
      ++end;
      break;
    case 'g':
    case 'G':
      shift = 30;
      ++end;
      break;
    default:
      break;
  }
  if (value > (UINT64_MAX >> shift)) return false;
  *bytes = value << shift;
  return *end == '\0';
}

bool ParseCount(const std::string& text, uint32_t* count) {
  if (text.empty() || text[0] < '0' || text[0] > '9') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0' || value == 0 || value > UINT32_MAX) return false;
  *count = static_cast<uint32_t>(value);
  return true;
}

CLI::Validator Seconds() {
  const std::string range = "in (0, " + std::to_string(kMaxSeconds) + "]";
  auto check = [range](std::string& text) {
    double seconds = 0;
    if (CLI::detail::lexical_cast(text, seconds) && seconds > 0 && seconds <= kMaxSeconds) {
      return std::string();
    }
    return "'" + text + "' is not a number of seconds " + range;
  };
  return CLI::Validator(check, "SECONDS " + range, "SECONDS");
}

bool ParseMode(const std::string& text, uint32_t* mode) {
  if (text.empty() || text.size() > 4) return false;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return false;
    value = value * 8 + static_cast<uint32_t>(c - '0');
  }
  if (value > 0777) return false;
  *mode = value;
  return true;
}

}  // namespace notnets::tool
