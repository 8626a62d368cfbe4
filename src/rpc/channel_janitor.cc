#include "rpc/channel_janitor.h"

#include <pthread.h>
#include <unistd.h>

#include <set>

#include "pool/background_thread.h"
#include "rpc/channel_core.h"
#include "rpc/mutex.h"

namespace notnets::internal {

namespace {

// Never destroyed: the thread may still run while the process exits.
struct Janitor {
  Mutex mutex;
  CondVar changed;
  std::set<ChannelCore*> cores NOTNETS_GUARDED_BY(mutex);
  ChannelCore* visiting NOTNETS_GUARDED_BY(mutex) = nullptr;
  pid_t started_in NOTNETS_GUARDED_BY(mutex) = 0;  // a forked child starts its own thread

  void Run() {
    mutex.Lock();  // held except while visiting or waiting; the thread never ends
    while (true) {
      if (cores.empty()) {
        changed.Wait(&mutex);
        continue;
      }
      // A copy: channels come and go while the lock is let go for each visit.
      std::set<ChannelCore*> round = cores;
      for (ChannelCore* core : round) {
        if (cores.count(core) == 0) continue;
        visiting = core;
        mutex.Unlock();
        core->ReleaseGone();
        mutex.Lock();
        visiting = nullptr;
        changed.SignalAll();
      }
      changed.WaitFor(&mutex, ChannelJanitor::kInterval);
    }
  }
};

Janitor& TheJanitor();

// fork() holds the janitor's lock across itself, so that the child does not inherit it held by
// the parent's janitor thread, which the child does not have. The child keeps none of the
// parent's channels to look after: they are the parent's connections.
void LockForFork() NOTNETS_NO_THREAD_SAFETY_ANALYSIS { TheJanitor().mutex.Lock(); }
void UnlockInParent() NOTNETS_NO_THREAD_SAFETY_ANALYSIS { TheJanitor().mutex.Unlock(); }
void UnlockInChild() NOTNETS_NO_THREAD_SAFETY_ANALYSIS {
  Janitor& janitor = TheJanitor();
  janitor.cores.clear();
  janitor.visiting = nullptr;
  janitor.mutex.Unlock();
}

Janitor& TheJanitor() {
  static Janitor* janitor = [] {
    pthread_atfork(LockForFork, UnlockInParent, UnlockInChild);
    return new Janitor();
  }();
  return *janitor;
}

}  // namespace

void ChannelJanitor::Add(ChannelCore* core) {
  Janitor& janitor = TheJanitor();
  MutexLock lock(&janitor.mutex);
  janitor.cores.insert(core);
  if (janitor.started_in != getpid()) {
    janitor.started_in = getpid();
    StartBackgroundThread([&janitor] { janitor.Run(); });
  }
  janitor.changed.SignalAll();
}

void ChannelJanitor::Remove(ChannelCore* core) {
  Janitor& janitor = TheJanitor();
  MutexLock lock(&janitor.mutex);
  janitor.cores.erase(core);
  while (janitor.visiting == core) janitor.changed.Wait(&janitor.mutex);
}

}  // namespace notnets::internal
