// A thread for work that must not run on the thread that asked for it: a gRPC reaction asked for
// inside the reactor's own Start*() call (gRPC holds the reactor's lock there), or the release
// of a pool channel from a completion running on that channel's own completion thread.
#ifndef NOTNETS_GRPC_DEFERRER_H_
#define NOTNETS_GRPC_DEFERRER_H_

#include <condition_variable>
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
    wakeup_.notify_one();
  }

 private:
  Deferrer() {
    std::thread([this] {
      std::unique_lock<std::mutex> lock(mutex_);
      while (true) {
        wakeup_.wait(lock, [this] { return !queue_.empty(); });
        std::function<void()> work = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        work();
        // Destroyed before the lock is retaken: it may hold the last reference to a call whose
        // destructor defers work of its own.
        work = nullptr;
        lock.lock();
      }
    }).detach();
  }
  std::mutex mutex_;
  std::condition_variable wakeup_;
  std::deque<std::function<void()>> queue_;
};

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_DEFERRER_H_
