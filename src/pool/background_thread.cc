#include "pool/background_thread.h"

#include <pthread.h>
#include <signal.h>

#include <thread>

namespace notnets::internal {

void StartBackgroundThread(std::function<void()> body) {
  // A thread starts with its creator's signal mask.
  sigset_t all;
  sigset_t before;
  sigfillset(&all);
  // A fault signal is raised by the thread's own access and cannot wait: blocked, it makes the
  // kernel kill the whole process without running any handler, the segment guard's included.
  for (int fault : {SIGBUS, SIGSEGV, SIGFPE, SIGILL, SIGTRAP}) sigdelset(&all, fault);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  std::thread(std::move(body)).detach();
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

}  // namespace notnets::internal
