// Threads notnets starts on its own, as a side effect of attaching a pool or creating a channel.
#ifndef NOTNETS_POOL_BACKGROUND_THREAD_H_
#define NOTNETS_POOL_BACKGROUND_THREAD_H_

#include <functional>

namespace notnets::internal {

// Runs `body` on a new detached thread that blocks every signal but the faults its own accesses
// raise (SIGBUS, SIGSEGV, SIGFPE, SIGILL, SIGTRAP), so that a process signal (SIGTERM, SIGINT,
// ...) goes to the application's own threads, which may be waiting for it with sigwait(), and
// never runs its default action on a thread the application did not make; while a SIGBUS from a
// shortened segment still reaches the segment guard (segment_guard.h).
void StartBackgroundThread(std::function<void()> body);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_BACKGROUND_THREAD_H_
