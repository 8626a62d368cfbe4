#include "tool_output.h"

#include <cstdio>

namespace notnets::tool {

int Refuse(const std::string& message) {
  std::fprintf(stderr, "notnets: %s\n", message.c_str());
  return kExitUsage;
}

int Fail(const Status& status) {
  std::fprintf(stderr, "notnets: %s\n", status.ToString().c_str());
  return kExitFailed;
}

}  // namespace notnets::tool
