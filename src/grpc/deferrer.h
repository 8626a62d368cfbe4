// A thread for work that must not run on the thread that asked for it: a gRPC reaction asked for
// inside the reactor's own Start*() call (gRPC holds the reactor's lock there), or the release
// of a pool channel from a completion running on that channel's own completion thread.
#ifndef NOTNETS_GRPC_DEFERRER_H_
#define NOTNETS_GRPC_DEFERRER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace notnets::grpc::internal {

class Deferrer {
 public:
  // The process's deferrer; its thread lives as long as the process.
  static Deferrer& Get() {
    static Deferrer* deferrer = new Deferrer();
    return *deferrer;
  }
  // Runs `work` soon on the deferrer's thread, in order.
  void Run(std::function<void()> work) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(work));
    }
    wakeup_.notify_all();
  }
  bool OnThread() const { return std::this_thread::get_id() == thread_id_; }
  // Blocks until `done()` holds, evaluating it (without the deferrer's lock) first and then after
  // each Wake(). On the deferrer's own thread it runs the queued work meanwhile: what the caller
  // waits for may be queued behind it.
  void RunUntil(const std::function<bool()>& done) {
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      uint64_t wakes = wakes_;
      lock.unlock();
      if (done()) break;
      lock.lock();
      bool on_thread = OnThread();
      wakeup_.wait(lock, [&] { return wakes_ != wakes || (on_thread && !queue_.empty()); });
      if (wakes_ == wakes) RunOneLocked(&lock);
    }
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
  }
  // Makes RunUntil callers evaluate their condition again. Touches only the deferrer: the caller
  // may free what the condition reads as soon as it holds. Call it after (in the seq_cst order)
  // the change it announces: it costs nothing while no one waits, which it knows that way.
  void Wake() {
    if (waiters_.load(std::memory_order_seq_cst) == 0) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++wakes_;
    }
    wakeup_.notify_all();
  }

 private:
  Deferrer() {
    std::thread thread([this] {
      std::unique_lock<std::mutex> lock(mutex_);
      while (true) {
        wakeup_.wait(lock, [this] { return !queue_.empty(); });
        RunOneLocked(&lock);
      }
    });
    thread_id_ = thread.get_id();
    thread.detach();
  }
  void RunOneLocked(std::unique_lock<std::mutex>* lock) {
    std::function<void()> work = std::move(queue_.front());
    queue_.pop_front();
    lock->unlock();
    work();
    // Destroyed before the lock is retaken: it may hold the last reference to a call whose
    // destructor defers work of its own.
    work = nullptr;
    lock->lock();
  }

  std::mutex mutex_;
  // Both the thread (for work) and RunUntil callers (for work or wakes) wait on it.
  std::condition_variable wakeup_;
  std::deque<std::function<void()>> queue_;
  uint64_t wakes_ = 0;
  std::atomic<int> waiters_{0};  // RunUntil callers
  std::thread::id thread_id_;
};

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_DEFERRER_H_
