#include "grpc/cancel_watcher.h"

#include <vector>

namespace notnets::grpc::internal {

CancelWatcher::CancelWatcher(std::function<void()> sweep)
    : sweep_(std::move(sweep)), thread_([this] { Loop(); }) {}

CancelWatcher::~CancelWatcher() { Stop(); }

void CancelWatcher::Stop() {
  if (!thread_.joinable()) return;
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  wakeup_.SignalAll();
  thread_.join();
}

void CancelWatcher::Add(WatchedCall* call) {
  ::notnets::internal::MutexLock lock(&mutex_);
  call->watched_ = true;
  call->previous_ = nullptr;
  call->next_ = calls_;
  if (calls_ != nullptr) calls_->previous_ = call;
  calls_ = call;
}

void CancelWatcher::Remove(WatchedCall* call) {
  ::notnets::internal::MutexLock lock(&mutex_);
  if (call->watched_) Unlink(call);
}

void CancelWatcher::Unlink(WatchedCall* call) {
  if (call->previous_ != nullptr) {
    call->previous_->next_ = call->next_;
  } else {
    calls_ = call->next_;
  }
  if (call->next_ != nullptr) call->next_->previous_ = call->previous_;
  call->watched_ = false;
  call->previous_ = call->next_ = nullptr;
}

void CancelWatcher::CancelAll() {
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    cancel_all_ = true;
  }
  wakeup_.SignalAll();
}

void CancelWatcher::Loop() {
  std::vector<WatchedCall*> cancelled;
  mutex_.Lock();
  while (!stopping_) {
    // A call that starts while the watcher sleeps long is seen within kIdleInterval.
    wakeup_.WaitFor(&mutex_, calls_ == nullptr ? kIdleInterval : kInterval);
    if (stopping_) break;
    for (WatchedCall* call = calls_; call != nullptr;) {
      WatchedCall* next = call->next_;
      if (cancel_all_ || call->native_context()->IsCancelled() ||
          call->cancelled_by_server_.load(std::memory_order_acquire)) {
        if (cancel_all_) call->cancelled_by_shutdown_.store(true, std::memory_order_release);
        call->CancelLocked();
        cancelled.push_back(call);
        Unlink(call);
      }
      call = next;
    }
    mutex_.Unlock();
    for (WatchedCall* call : cancelled) {
      call->child_calls().CancelAll();
      call->Cancelled();
    }
    cancelled.clear();
    sweep_();
    mutex_.Lock();
  }
  mutex_.Unlock();
}

}  // namespace notnets::grpc::internal
