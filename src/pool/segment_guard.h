// A segment's memory is a file another process can shorten: its writer (or anyone of its uid)
// may ftruncate it, and every access to a page past the new end then raises SIGBUS in whoever
// maps it. Checking the size before each access cannot be made race-free, so instead every
// segment mapping is registered here, and a SIGBUS inside a registered range replaces the whole
// range with private zeros (same address, same protection), marks it faulted, and lets the
// faulting access run again: it reads zeros, which in a ring mean "nothing new", and the owner
// of the mapping closes the connection when it sees the mark. A SIGBUS anywhere else goes to the
// handler that was installed before (or kills the process as it would have). The pool's own
// mapping is registered too (pool_mapping.h), since any process that opens the pool file can
// shorten it. docs/security.md.
#ifndef NOTNETS_POOL_SEGMENT_GUARD_H_
#define NOTNETS_POOL_SEGMENT_GUARD_H_

#include <atomic>
#include <cstdint>

namespace notnets::internal {

// Registers [base, base + bytes), mapped with `protection` (PROT_*), installing the handler on
// first use. `faulted` is set once a fault there was absorbed; it must outlive the registration.
// Returns a handle for UnguardMapping, or -1 if every slot is taken (the mapping is then
// unprotected, as before this guard existed).
int GuardMapping(void* base, uint64_t bytes, int protection, std::atomic<bool>* faulted);

// Forgets a registration: call it before the range is unmapped. -1 is ignored.
void UnguardMapping(int handle);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_SEGMENT_GUARD_H_
