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
  pthread_sigmask(SIG_SETMASK, &all, &before);
  std::thread(std::move(body)).detach();
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

}  // namespace notnets::internal
