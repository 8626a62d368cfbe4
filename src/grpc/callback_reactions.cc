#include "grpc/callback_reactions.h"

#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/impl/call.h>
#include <grpcpp/impl/codegen/interceptor_common.h>
#include <grpcpp/version_info.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <thread>

#include "rpc/mutex.h"

static_assert(GRPC_CPP_VERSION_MAJOR == 1 && GRPC_CPP_VERSION_MINOR == 51,
              "callback_reactions.cc reaches private members of "
              "grpc::internal::InterceptorBatchMethodsImpl and grpc::Channel as laid out in gRPC "
              "1.51, and relies on its callback completion queue taking completions into the "
              "thread-local cache; check them against this gRPC version");

namespace notnets::grpc::internal {

namespace {

using ::grpc::experimental::InterceptorBatchMethods;

// Member<Tag>::pointer is a pointer to the private member named at its explicit instantiation
// (which, unlike other uses, may name private members).
template <class Tag>
struct Member {
  static typename Tag::type pointer;
};
template <class Tag>
typename Tag::type Member<Tag>::pointer;

template <class Tag, typename Tag::type kPointer>
struct Expose {
  Expose() { Member<Tag>::pointer = kPointer; }
  static Expose instance;
};
template <class Tag, typename Tag::type kPointer>
Expose<Tag, kPointer> Expose<Tag, kPointer>::instance;

// The call a batch belongs to: gRPC offers no public way to its completion queue.
struct BatchCall {
  using type = ::grpc::internal::Call* ::grpc::internal::InterceptorBatchMethodsImpl::*;
};
// The channel's callback queue, read without creating it (CallbackCQ() would).
using GrpcChannel = ::grpc::Channel;
struct ChannelCallbackQueue {
  using type = std::atomic<::grpc::CompletionQueue*> GrpcChannel::*;
};

template struct Expose<BatchCall, &::grpc::internal::InterceptorBatchMethodsImpl::call_>;
template struct Expose<ChannelCallbackQueue, &::grpc::Channel::callback_cq_>;

void RunReaction(grpc_completion_queue_functor* reaction, int ok) {
  reaction->functor_run(reaction, ok);
}

// The reactions thread. After work it keeps looking for more for a while, yielding the CPU,
// before it sleeps: the next reaction of a call-and-answer loop comes a round trip later, and
// finding it awake costs its sender no system call and the reaction no wake-up.
class ReactionThread {
 public:
  static ReactionThread& Get() {
    static ReactionThread* thread = new ReactionThread();
    return *thread;
  }

  // Runs `work` on the thread, after the work queued before it.
  void Run(std::function<void()> work) NOTNETS_EXCLUDES(mutex_) {
    bool sleeping;
    {
      ::notnets::internal::MutexLock lock(&mutex_);
      queue_.push_back(std::move(work));
      queued_.store(true, std::memory_order_relaxed);
      sleeping = sleeping_;
    }
    if (sleeping) wakeup_.Signal();
  }

 private:
  // How long the thread looks for work after its last before it sleeps.
  static constexpr std::chrono::microseconds kAwakeFor{50};

  ReactionThread() {
    std::thread([this] { Loop(); }).detach();
  }

  void Loop() NOTNETS_EXCLUDES(mutex_) {
    std::deque<std::function<void()>> work;
    auto idle_since = std::chrono::steady_clock::now();
    while (true) {
      if (!queued_.load(std::memory_order_relaxed) &&
          std::chrono::steady_clock::now() - idle_since < kAwakeFor) {
        std::this_thread::yield();
        continue;
      }
      {
        ::notnets::internal::MutexLock lock(&mutex_);
        sleeping_ = true;
        while (queue_.empty()) wakeup_.Wait(&mutex_);
        sleeping_ = false;
        work.swap(queue_);
        queued_.store(false, std::memory_order_relaxed);
      }
      for (std::function<void()>& next : work) {
        next();
        next = nullptr;  // before the next: it may hold the last reference to a call
      }
      work.clear();
      idle_since = std::chrono::steady_clock::now();
    }
  }

  ::notnets::internal::Mutex mutex_;
  ::notnets::internal::CondVar wakeup_;
  std::deque<std::function<void()>> queue_ NOTNETS_GUARDED_BY(mutex_);
  bool sleeping_ NOTNETS_GUARDED_BY(mutex_) = false;
  std::atomic<bool> queued_{false};  // a hint, read without the lock
};

}  // namespace

grpc_completion_queue* CallbackReactions::QueueOf(InterceptorBatchMethods* methods,
                                                  ::grpc::ChannelInterface* channel) {
  auto* batch = dynamic_cast<::grpc::internal::InterceptorBatchMethodsImpl*>(methods);
  auto* grpc_channel = dynamic_cast<::grpc::Channel*>(channel);
  if (batch == nullptr || grpc_channel == nullptr) return nullptr;
  ::grpc::internal::Call* call = batch->*Member<BatchCall>::pointer;
  ::grpc::CompletionQueue* callback_queue =
      (grpc_channel->*Member<ChannelCallbackQueue>::pointer).load(std::memory_order_acquire);
  if (call == nullptr || callback_queue == nullptr || call->cq() != callback_queue) {
    return nullptr;
  }
  return callback_queue->cq();
}

void CallbackReactions::Proceed(InterceptorBatchMethods* methods, grpc_completion_queue* queue) {
  if (queue == nullptr) {
    methods->Proceed();
    return;
  }
  // The completion gRPC makes for the batch once the interceptors before this one have seen it
  // lands in this thread's cache instead of the queue, if the queue is a polled one (the
  // alternative queue); a true callback queue ignores the cache, and nothing is taken back.
  grpc_completion_queue_thread_local_cache_init(queue);
  methods->Proceed();
  void* tag = nullptr;
  int ok = 0;
  if (grpc_completion_queue_thread_local_cache_flush(queue, &tag, &ok) == 0) return;
  // Every tag of a callback queue is a functor: what its threads would run.
  auto* reaction = static_cast<grpc_completion_queue_functor*>(tag);
  ReactionThread::Get().Run([reaction, ok] { RunReaction(reaction, ok); });
}

void CallbackReactions::Defer(std::function<void()> work) {
  ReactionThread::Get().Run(std::move(work));
}

}  // namespace notnets::grpc::internal
