#include "grpc/child_calls.h"

#include <atomic>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rpc/mutex.h"

namespace notnets::grpc::internal {

struct ChildCalls::Family {
  bool cancelled = false;
  bool gone = false;  // the parent ended
  std::vector<std::weak_ptr<ChildCall>> started;
};

namespace {

// The contexts adopted and not used yet, with their parents' families.
class Adopted {
 public:
  ::notnets::internal::Mutex mutex;
  std::unordered_map<::grpc::ClientContext*, std::shared_ptr<void>> contexts
      NOTNETS_GUARDED_BY(mutex);
  // contexts.size(), for a call to find without the lock that it has no parent.
  std::atomic<size_t> count{0};
};

Adopted& TheAdopted() {
  static Adopted* adopted = new Adopted;
  return *adopted;
}

}  // namespace

ChildCalls::~ChildCalls() {
  if (!adopted_.load(std::memory_order_relaxed)) return;
  Adopted& adopted = TheAdopted();
  ::notnets::internal::MutexLock lock(&adopted.mutex);
  family_->gone = true;
  for (auto it = adopted.contexts.begin(); it != adopted.contexts.end();) {
    it = it->second == family_ ? adopted.contexts.erase(it) : std::next(it);
  }
  adopted.count.store(adopted.contexts.size(), std::memory_order_relaxed);
}

void ChildCalls::Adopt(const ::grpc::ServerContextBase& parent, ::grpc::ClientContext* child) {
  Adopted& adopted = TheAdopted();
  bool cancelled;
  {
    ::notnets::internal::MutexLock lock(&adopted.mutex);
    if (family_ == nullptr) family_ = std::make_shared<Family>();
    adopted.contexts[child] = family_;
    adopted.count.store(adopted.contexts.size(), std::memory_order_relaxed);
    cancelled = family_->cancelled;
  }
  adopted_.store(true, std::memory_order_relaxed);
  // Pairs with the fence in CancelAll: either this sees the parent's cancellation, or CancelAll
  // sees the family and cancels the child when it starts.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (cancelled || parent.IsCancelled()) child->TryCancel();
}

void ChildCalls::CancelAll() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!adopted_.load(std::memory_order_relaxed)) return;
  std::vector<std::weak_ptr<ChildCall>> started;
  {
    Adopted& adopted = TheAdopted();
    ::notnets::internal::MutexLock lock(&adopted.mutex);
    family_->cancelled = true;
    started.swap(family_->started);
  }
  for (const std::weak_ptr<ChildCall>& weak : started) {
    if (std::shared_ptr<ChildCall> call = weak.lock()) call->CancelByParent();
  }
}

void ChildCalls::Start(::grpc::ClientContext* context, const std::shared_ptr<ChildCall>& call) {
  Adopted& adopted = TheAdopted();
  if (adopted.count.load(std::memory_order_relaxed) == 0) return;
  bool cancelled = false;
  {
    ::notnets::internal::MutexLock lock(&adopted.mutex);
    auto it = adopted.contexts.find(context);
    if (it == adopted.contexts.end()) return;
    auto family = std::static_pointer_cast<Family>(it->second);
    adopted.contexts.erase(it);
    adopted.count.store(adopted.contexts.size(), std::memory_order_relaxed);
    if (family->gone) return;
    cancelled = family->cancelled;
    if (!cancelled) family->started.push_back(call);
  }
  if (cancelled) call->CancelByParent();
}

}  // namespace notnets::grpc::internal
