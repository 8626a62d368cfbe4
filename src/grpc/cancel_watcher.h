// Carries cancellation from the pool to gRPC handlers: a thread that looks at the notnets
// context of every call in flight and, when its client cancelled, passed its deadline or died,
// or its handler cancelled it (TryCancel), marks the gRPC context cancelled and runs the
// reactor's OnCancel.
#ifndef NOTNETS_GRPC_CANCEL_WATCHER_H_
#define NOTNETS_GRPC_CANCEL_WATCHER_H_

#include <grpcpp/support/status.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "grpc/child_calls.h"
#include "notnets/server.h"
#include "rpc/mutex.h"

namespace notnets::grpc::internal {

// A call in flight, as the watcher sees it.
class WatchedCall {
 public:
  virtual ~WatchedCall() = default;
  // The notnets context whose IsCancelled() decides; read only by the watcher thread.
  virtual const notnets::ServerContext* native_context() const = 0;
  // Called under the watcher's lock, once: must not block or call back into the watcher. A
  // call that needs more (reactions) takes a reference here and releases it in Cancelled().
  virtual void CancelLocked() = 0;
  // Called without the lock right after CancelLocked. The call must live until it returns:
  // Remove does not wait for it (a reference taken in CancelLocked, or a wait after Remove).
  virtual void Cancelled() = 0;

  // The handler called TryCancel() on the call's gRPC context: the watcher cancels the call as
  // when its client cancels it, and the call answers CANCELLED whatever the handler says.
  void CancelByServer() { cancelled_by_server_.store(true, std::memory_order_release); }
  // The calls its handler made downstream with contexts propagated from its context: the
  // watcher cancels them with the call, after CancelLocked, without its lock.
  ChildCalls& child_calls() { return child_calls_; }
  // What the call answers when its handler finishes with `status`.
  ::grpc::Status Outcome(::grpc::Status status) const {
    if (cancelled_by_shutdown_.load(std::memory_order_acquire)) {
      // gRPC 1.51 closes the connections of a server whose Shutdown(deadline) expired.
      return ::grpc::Status(::grpc::StatusCode::UNAVAILABLE, "Cancelling all calls");
    }
    if (!cancelled_by_server_.load(std::memory_order_acquire)) return status;
    return ::grpc::Status(::grpc::StatusCode::CANCELLED, "Cancelled on the server side");
  }

 private:
  friend class CancelWatcher;
  std::atomic<bool> cancelled_by_server_{false};
  std::atomic<bool> cancelled_by_shutdown_{false};  // by CancelWatcher::CancelAll
  ChildCalls child_calls_;
  // The watcher's list of calls, linked through the calls (no allocation per call).
  bool watched_ = false;
  WatchedCall* previous_ = nullptr;
  WatchedCall* next_ = nullptr;
};

class CancelWatcher {
 public:
  // How often calls are looked at while there are any; `sweep` also runs then.
  static constexpr std::chrono::milliseconds kInterval{2};
  // How long the watcher sleeps while no call is in flight.
  static constexpr std::chrono::milliseconds kIdleInterval{50};

  // `sweep` runs on the watcher thread at every look (for housekeeping of the caller's own).
  explicit CancelWatcher(std::function<void()> sweep);
  ~CancelWatcher();  // Stop()
  // Stops the thread: once it returns, no CancelLocked, Cancelled or sweep runs any more. Not
  // from the watcher's own thread.
  void Stop();

  void Add(WatchedCall* call) NOTNETS_EXCLUDES(mutex_);
  // After Remove returns, the watcher no longer calls CancelLocked (Cancelled may still be
  // running for a call that took a reference).
  void Remove(WatchedCall* call) NOTNETS_EXCLUDES(mutex_);
  // Cancels every call in flight and every call added later, as if its client had cancelled it:
  // what gRPC does to its own calls when a Shutdown(deadline) expires. Returns at once.
  void CancelAll() NOTNETS_EXCLUDES(mutex_);

 private:
  void Loop() NOTNETS_EXCLUDES(mutex_);
  void Unlink(WatchedCall* call) NOTNETS_REQUIRES(mutex_);

  std::function<void()> sweep_;
  ::notnets::internal::Mutex mutex_;
  ::notnets::internal::CondVar wakeup_;
  WatchedCall* calls_ NOTNETS_GUARDED_BY(mutex_) = nullptr;
  bool stopping_ NOTNETS_GUARDED_BY(mutex_) = false;
  bool cancel_all_ NOTNETS_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_CANCEL_WATCHER_H_
