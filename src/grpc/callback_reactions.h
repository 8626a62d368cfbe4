// Where the reactions of callback-API calls through the pool run. gRPC 1.51 hands every completed
// operation of a callback call to the channel's callback completion queue; on Linux that is the
// process's "alternative" queue, whose two threads take each completion through a lock, a pollset
// and an eventfd, and hand the poller role to each other: about five thread switches and ten
// system calls per unary call, most of its cost over the pool. A pool call completes outside
// gRPC core, so the thread that completes it can take the completed operation back through gRPC's
// thread-local completion cache and have its reaction run by a thread of ours, with one wake-up.
#ifndef NOTNETS_GRPC_CALLBACK_REACTIONS_H_
#define NOTNETS_GRPC_CALLBACK_REACTIONS_H_

#include <grpc/grpc.h>
#include <grpcpp/impl/channel_interface.h>
#include <grpcpp/support/interceptor.h>

#include <functional>

namespace notnets::grpc::internal {

class CallbackReactions {
 public:
  // The completion queue the call that `methods` (a batch of it) belongs to completes on, if that
  // is the callback queue of `channel` (a callback-API call); null for any other call (blocking,
  // completion-queue), whose completions the application reads from a queue itself.
  static grpc_completion_queue* QueueOf(::grpc::experimental::InterceptorBatchMethods* methods,
                                        ::grpc::ChannelInterface* channel);

  // Completes `methods` (methods->Proceed()). If that completes a callback operation on `queue`
  // (from QueueOf; null: none), its reaction runs on the reactions thread: here if this is that
  // thread, else soon after, in order. Never inside the call's own Start*() (gRPC holds the
  // reactor's lock there): the caller does not proceed there.
  static void Proceed(::grpc::experimental::InterceptorBatchMethods* methods,
                      grpc_completion_queue* queue);

  // Runs `work` on the reactions thread, after the reactions already queued: for completions
  // that must leave the thread that asked for them (a reactor's Start*() call).
  static void Defer(std::function<void()> work);
};

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_CALLBACK_REACTIONS_H_
