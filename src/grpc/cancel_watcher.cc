#include "grpc/cancel_watcher.h"

#include <vector>

namespace notnets::grpc::internal {

CancelWatcher::CancelWatcher(std::function<void()> sweep)
    : sweep_(std::move(sweep)), thread_([this] { Loop(); }) {}

CancelWatcher::~CancelWatcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wakeup_.notify_all();
  thread_.join();
}

void CancelWatcher::Add(WatchedCall* call) {
  std::lock_guard<std::mutex> lock(mutex_);
  calls_.insert(call);
}

void CancelWatcher::Remove(WatchedCall* call) {
  std::lock_guard<std::mutex> lock(mutex_);
  calls_.erase(call);
}

void CancelWatcher::Loop() {
  std::vector<WatchedCall*> cancelled;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    // A call that starts while the watcher sleeps long is seen within kIdleInterval.
    wakeup_.wait_for(lock, calls_.empty() ? kIdleInterval : kInterval);
    if (stopping_) break;
    for (auto it = calls_.begin(); it != calls_.end();) {
      WatchedCall* call = *it;
      if (call->native_context()->IsCancelled()) {
        call->CancelLocked();
        cancelled.push_back(call);
        it = calls_.erase(it);
      } else {
        ++it;
      }
    }
    lock.unlock();
    for (WatchedCall* call : cancelled) call->Cancelled();
    cancelled.clear();
    sweep_();
    lock.lock();
  }
}

}  // namespace notnets::grpc::internal
