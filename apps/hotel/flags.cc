#include "flags.h"

#include <cstdio>
#include <cstdlib>

namespace hotel {

bool Flags::Parse(int argc, char** argv) {
  for (int i = 1; i < argc; i += 2) {
    std::string name = argv[i];
    if (name.rfind("--", 0) != 0 || i + 1 >= argc) {
      std::fprintf(stderr, "expected --name value, got '%s'\n", argv[i]);
      return false;
    }
    values_[name.substr(2)] = argv[i + 1];
  }
  return true;
}

std::string Flags::String(const std::string& name, const std::string& fallback) const {
  auto value = values_.find(name);
  return value == values_.end() ? fallback : value->second;
}

int64_t Flags::Int(const std::string& name, int64_t fallback) const {
  auto value = values_.find(name);
  if (value == values_.end()) return fallback;
  char* end = nullptr;
  long long number = std::strtoll(value->second.c_str(), &end, 10);
  if (value->second.empty() || *end != '\0') {
    std::fprintf(stderr, "--%s: not an integer: %s\n", name.c_str(), value->second.c_str());
    std::exit(2);
  }
  return number;
}

double Flags::Double(const std::string& name, double fallback) const {
  auto value = values_.find(name);
  if (value == values_.end()) return fallback;
  char* end = nullptr;
  double number = std::strtod(value->second.c_str(), &end);
  if (value->second.empty() || *end != '\0') {
    std::fprintf(stderr, "--%s: not a number: %s\n", name.c_str(), value->second.c_str());
    std::exit(2);
  }
  return number;
}

}  // namespace hotel
