// A thread for work that must not run on the thread that asked for it: a gRPC reaction asked for
// inside the reactor's own Start*() call (gRPC holds the reactor's lock there), or the release
// of a pool channel from a completion running on that channel's own completion thread.
#ifndef NOTNETS_GRPC_DEFERRER_H_
#define NOTNETS_GRPC_DEFERRER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <thread>

#include "rpc/mutex.h"

namespace notnets::grpc::internal {

class Deferrer {
 public:
  // The process's deferrer; its thread lives as long as the process.
  static Deferrer& Get() {
    static Deferrer* deferrer = new Deferrer();
    return *deferrer;
  }
  // Runs `work` soon on the deferrer's thread, in order.
  void Run(std::function<void()> work) NOTNETS_EXCLUDES(mutex_) {
    {
      ::notnets::internal::MutexLock lock(&mutex_);
      queue_.push_back(std::move(work));
    }
    wakeup_.SignalAll();
  }
  bool OnThread() const { return std::this_thread::get_id() == thread_id_; }
  // Blocks until `done()` holds, evaluating it (without the deferrer's lock) first and then after
  // each Wake(). On the deferrer's own thread it runs the queued work meanwhile: what the caller
  // waits for may be queued behind it.
  void RunUntil(const std::function<bool()>& done) NOTNETS_EXCLUDES(mutex_) {
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    mutex_.Lock();
    while (true) {
      uint64_t wakes = wakes_;
      mutex_.Unlock();
      if (done()) break;
      mutex_.Lock();
      bool on_thread = OnThread();
      while (wakes_ == wakes && !(on_thread && !queue_.empty())) wakeup_.Wait(&mutex_);
      if (wakes_ == wakes) RunOneLocked();
    }
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
  }
  // Makes RunUntil callers evaluate their condition again. Touches only the deferrer: the caller
  // may free what the condition reads as soon as it holds. Call it after (in the seq_cst order)
  // the change it announces: it costs nothing while no one waits, which it knows that way.
  void Wake() NOTNETS_EXCLUDES(mutex_) {
    if (waiters_.load(std::memory_order_seq_cst) == 0) return;
    {
      ::notnets::internal::MutexLock lock(&mutex_);
      ++wakes_;
    }
    wakeup_.SignalAll();
  }

 private:
  Deferrer() {
    std::thread thread([this] {
      ::notnets::internal::MutexLock lock(&mutex_);
      while (true) {
        while (queue_.empty()) wakeup_.Wait(&mutex_);
        RunOneLocked();
      }
    });
    thread_id_ = thread.get_id();
    thread.detach();
  }
  // Runs the first queued work with the lock let go meanwhile.
  void RunOneLocked() NOTNETS_REQUIRES(mutex_) {
    std::function<void()> work = std::move(queue_.front());
    queue_.pop_front();
    mutex_.Unlock();
    work();
    // Destroyed before the lock is retaken: it may hold the last reference to a call whose
    // destructor defers work of its own.
    work = nullptr;
    mutex_.Lock();
  }

  ::notnets::internal::Mutex mutex_;
  // Both the thread (for work) and RunUntil callers (for work or wakes) wait on it.
  ::notnets::internal::CondVar wakeup_;
  std::deque<std::function<void()>> queue_ NOTNETS_GUARDED_BY(mutex_);
  uint64_t wakes_ NOTNETS_GUARDED_BY(mutex_) = 0;
  std::atomic<int> waiters_{0};  // RunUntil callers
  std::thread::id thread_id_;
};

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_DEFERRER_H_
