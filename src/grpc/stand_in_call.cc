#include "grpc/stand_in_call.h"

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <unordered_set>
#include <vector>

#include "grpc/server_context_access.h"
#include "rpc/mutex.h"

namespace notnets::grpc::internal {

namespace {

using ::grpc::experimental::InterceptionHookPoints;

// The call whose context is being lent the stand-in, for the factory below: gRPC creates the
// interceptors inside Lend, on its thread.
thread_local WatchedCall* lending_to = nullptr;

class TryCancelHook final : public ::grpc::experimental::Interceptor {
 public:
  explicit TryCancelHook(WatchedCall* call) : call_(call) {}
  WatchedCall* call() const { return call_; }
  void Intercept(::grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_CANCEL)) {
      call_->CancelByServer();
    }
    methods->Proceed();
  }

 private:
  WatchedCall* call_;
};

class TryCancelHookFactory final : public ::grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  ::grpc::experimental::Interceptor* CreateServerInterceptor(
      ::grpc::experimental::ServerRpcInfo*) override {
    return new TryCancelHook(lending_to);
  }
};

const ServerInterceptorFactories& TryCancelHooks() {
  static const ServerInterceptorFactories hooks = [] {
    ServerInterceptorFactories factories;
    factories.push_back(std::make_unique<TryCancelHookFactory>());
    return factories;
  }();
  return hooks;
}

// The core calls of every stand-in alive, which ClientContext::FromServerContext must not take
// for a parent: gRPC requires a parent to be a server call.
class StandIns {
 public:
  void Add(grpc_call* call) {
    ::notnets::internal::MutexLock lock(&mutex_);
    calls_.insert(call);
  }
  void Remove(grpc_call* call) {
    ::notnets::internal::MutexLock lock(&mutex_);
    calls_.erase(call);
  }
  bool Has(grpc_call* call) {
    ::notnets::internal::MutexLock lock(&mutex_);
    return calls_.count(call) != 0;
  }

 private:
  ::notnets::internal::Mutex mutex_;
  std::unordered_set<grpc_call*> calls_ NOTNETS_GUARDED_BY(mutex_);
};

StandIns& AllStandIns() {
  static StandIns* stand_ins = new StandIns;
  return *stand_ins;
}

}  // namespace

StandInCall::StandInCall(const std::string& peer) {
  grpc_init();
  // A lame channel never connects; its calls' peer, until they start, is its target.
  channel_ = grpc_lame_client_channel_create(peer.c_str(), GRPC_STATUS_UNAVAILABLE,
                                             "a stand-in for pool calls, never started");
  queue_ = grpc_completion_queue_create_for_next(nullptr);
  call_ = grpc_channel_create_call(channel_, nullptr, GRPC_PROPAGATE_DEFAULTS, queue_,
                                   grpc_slice_from_static_string("/notnets/StandIn"), nullptr,
                                   gpr_inf_future(GPR_CLOCK_REALTIME), nullptr);
  AllStandIns().Add(call_);
}

StandInCall::~StandInCall() {
  AllStandIns().Remove(call_);
  grpc_call_unref(call_);
  grpc_channel_destroy(channel_);
  grpc_completion_queue_shutdown(queue_);
  while (grpc_completion_queue_next(queue_, gpr_inf_future(GPR_CLOCK_REALTIME), nullptr).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(queue_);
  grpc_shutdown();
}

void StandInCall::Lend(::grpc::ServerContextBase* context, WatchedCall* call, const char* method,
                       ::grpc::internal::RpcMethod::RpcType type) const {
  grpc_call_ref(call_);
  SetCall(context, call_);
  lending_to = call;
  SetServerRpcInfo(context, method, type, TryCancelHooks());
  lending_to = nullptr;
}

grpc_call* StandInCall::LendTo(::grpc::ClientContext* context) const {
  grpc_call_ref(call_);
  return ReplaceCall(context, call_);
}

bool StandInCall::Is(grpc_call* call) { return AllStandIns().Has(call); }

WatchedCall* StandInCall::WatchedCallOf(const ::grpc::ServerContextBase& context) {
  const auto* interceptors = ServerInterceptorsOf(context);
  if (interceptors == nullptr) return nullptr;
  for (const auto& interceptor : *interceptors) {
    if (auto* hook = dynamic_cast<const TryCancelHook*>(interceptor.get())) return hook->call();
  }
  return nullptr;
}

}  // namespace notnets::grpc::internal
