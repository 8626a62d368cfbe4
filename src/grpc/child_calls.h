// Cancellation from a directly dispatched pool call to the calls its handler makes downstream with
// a context from ClientContext::FromServerContext (propagation.cc). gRPC's core cancels a server
// call's children with it; a pool call has no core call, so its children are kept here.
//
// Only children whose calls go through a notnets channel's pool path are cancelled with a parent
// that is cancelled while they run; a child context made after its parent was cancelled is
// cancelled at once, whatever its path (docs/grpc.md).
#ifndef NOTNETS_GRPC_CHILD_CALLS_H_
#define NOTNETS_GRPC_CHILD_CALLS_H_

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include <atomic>
#include <memory>

namespace notnets::grpc::internal {

// A client call that its parent's cancellation cancels.
class ChildCall {
 public:
  // Cancels the call as ClientContext::TryCancel() does. From any thread; does not block.
  virtual void CancelByParent() = 0;

 protected:
  ~ChildCall() = default;
};

// The children of one parent call, a member of the parent (WatchedCall). One process-wide lock
// guards every family; a parent whose handler never propagated its context never takes it.
class ChildCalls {
 public:
  ChildCalls() = default;
  // Forgets the contexts adopted but not used: a context made later at the same address is not
  // the parent's.
  ~ChildCalls();
  ChildCalls(const ChildCalls&) = delete;
  ChildCalls& operator=(const ChildCalls&) = delete;

  // Makes `child`, a context not yet used, the parent's: the call started with it (Start) is
  // cancelled with the parent. If `parent` (the parent's context) is cancelled already, cancels
  // `child` now. From the parent's handler.
  void Adopt(const ::grpc::ServerContextBase& parent, ::grpc::ClientContext* child);
  // Cancels the children started, and those that start later. Once, after the parent's context
  // was marked cancelled.
  void CancelAll();

  // For a call that starts with `context`: if a parent adopted the context, `call` is its child,
  // cancelled at once if the parent was cancelled already.
  static void Start(::grpc::ClientContext* context, const std::shared_ptr<ChildCall>& call);

 private:
  struct Family;
  std::shared_ptr<Family> family_;  // guarded by the process-wide lock
  std::atomic<bool> adopted_{false};
};

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_CHILD_CALLS_H_
