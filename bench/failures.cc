#include "failures.h"

#include <cstdio>

namespace notnets::bench {

void Failures::Add(const std::string& what, const Status& status) {
  std::string line = what + ": FAILED: " + status.ToString();
  std::fprintf(stderr, "notnets-bench: case %s\n", line.c_str());
  entries_.push_back(what);
  lines_.push_back(line);
}

std::vector<std::string> Failures::Lines() const { return lines_; }

int Failures::Report(size_t attempted) const {
  if (entries_.empty()) return 0;
  std::string names;
  for (const std::string& name : entries_) {
    if (!names.empty()) names += ", ";
    names += name;
  }
  if (attempted > 0) {
    std::fprintf(stderr, "notnets-bench: %zu of %zu failed: %s\n", entries_.size(), attempted,
                 names.c_str());
  } else {
    std::fprintf(stderr, "notnets-bench: %zu failed: %s\n", entries_.size(), names.c_str());
  }
  return 1;
}

}  // namespace notnets::bench
