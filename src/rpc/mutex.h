// Locks the thread-safety analysis knows (thread_annotations.h): libstdc++'s std::mutex carries
// no annotations, so the library locks through these. Each costs what the std type it wraps
// costs.
#ifndef NOTNETS_RPC_MUTEX_H_
#define NOTNETS_RPC_MUTEX_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "rpc/thread_annotations.h"

namespace notnets::internal {

// A std::mutex.
class NOTNETS_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() NOTNETS_ACQUIRE() { mutex_.lock(); }
  void Unlock() NOTNETS_RELEASE() { mutex_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mutex_;
};

// Holds a Mutex for its scope.
class NOTNETS_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mutex) NOTNETS_ACQUIRE(mutex) : mutex_(mutex) { mutex_->Lock(); }
  ~MutexLock() NOTNETS_RELEASE() { mutex_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mutex_;
};

// A std::condition_variable waited on with a Mutex held. Waits may wake spuriously: callers
// loop on their condition, which the analysis then sees read under the lock.
class CondVar {
 public:
  // Lets go of `mutex` until woken, and holds it again on return.
  void Wait(Mutex* mutex) NOTNETS_REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex->mutex_, std::adopt_lock);
    condition_.wait(lock);
    lock.release();
  }
  // Wait, for at most `timeout`.
  template <typename Rep, typename Period>
  void WaitFor(Mutex* mutex, std::chrono::duration<Rep, Period> timeout) NOTNETS_REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex->mutex_, std::adopt_lock);
    condition_.wait_for(lock, timeout);
    lock.release();
  }
  void Signal() { condition_.notify_one(); }
  void SignalAll() { condition_.notify_all(); }

 private:
  std::condition_variable condition_;
};

// A spin flag taken only by trying (std::atomic_flag): its holder has what it guards to itself,
// and a thread that finds it taken does something else.
class NOTNETS_CAPABILITY("flag") TryFlag {
 public:
  // True if this thread now holds the flag.
  bool TryLock() NOTNETS_TRY_ACQUIRE(true) {
    return !flag_.test_and_set(std::memory_order_acquire);
  }
  void Unlock() NOTNETS_RELEASE() { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_MUTEX_H_
