#include "pool/crash_point.h"

#ifdef NOTNETS_FAULT_INJECTION

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace notnets::internal {

void CrashPoint(const char* name) {
  static const char* const chosen = std::getenv("NOTNETS_CRASH_AT");
  if (chosen != nullptr && std::strcmp(chosen, name) == 0) ::kill(::getpid(), SIGKILL);
}

}  // namespace notnets::internal

#endif  // NOTNETS_FAULT_INJECTION
