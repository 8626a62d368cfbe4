// Named points of the protocol where a test can make this process die (kill -9 itself), to check
// what its peer does about it. Compiled in only with NOTNETS_FAULT_INJECTION (the test builds);
// elsewhere CrashPoint is an empty inline function.
//
// A test runs a peer with NOTNETS_CRASH_AT=<name> in its environment; the first time that peer
// reaches the point of that name, it sends itself SIGKILL. The names are listed in
// docs/crash-matrix.md.
#ifndef NOTNETS_POOL_CRASH_POINT_H_
#define NOTNETS_POOL_CRASH_POINT_H_

namespace notnets::internal {

#ifdef NOTNETS_FAULT_INJECTION
void CrashPoint(const char* name);
#else
inline void CrashPoint(const char*) {}
#endif

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_CRASH_POINT_H_
