#include "notnets/grpc/server.h"

#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>
#include <grpcpp/server_posix.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <unordered_map>

#include "grpc/bridged_caller.h"
#include "grpc/deferrer.h"
#include "grpc/message_io.h"
#include "grpc/pool_name.h"
#include "grpc/pool_server.h"
#include "grpc/raw_message.h"
#include "grpc/server_context_access.h"
#include "grpc/wire.h"
#include "notnets/pool.h"

namespace notnets::grpc {

namespace internal {

namespace {

// A synchronous handler's call, for the watcher: cancellation only sets the context's flag.
// It lives on the handler's stack, so it must not go before the watcher is done with it.
class SyncCall final : public WatchedCall {
 public:
  SyncCall(const notnets::ServerContext* native, ::grpc::ServerContext* context)
      : native_(native), context_(context) {}
  const notnets::ServerContext* native_context() const override { return native_; }
  void CancelLocked() override {
    MarkCancelled(context_);
    cancelled_ = true;
  }
  void Cancelled() override { delivered_.store(true, std::memory_order_release); }

  // After CancelWatcher::Remove: waits until the watcher no longer uses the call. The watcher
  // calls Cancelled() right after releasing its lock, where Remove no longer waits for it.
  void WaitUntilReleased() const {
    if (!cancelled_) return;  // set under the watcher's lock, which Remove took
    while (!delivered_.load(std::memory_order_acquire)) std::this_thread::yield();
  }

 private:
  const notnets::ServerContext* native_;
  ::grpc::ServerContext* context_;
  bool cancelled_ = false;
  std::atomic<bool> delivered_{false};
};

// A synchronous method's request and response, this thread's, reused from call to call: a
// cleared message keeps its memory where a new one allocates. Safe because a gRPC handler may not
// keep either past its return, and a worker thread runs one handler at a time.
class ReusedMessages {
 public:
  // Messages past this size are not kept: one large call must not pin its memory to a thread.
  static constexpr size_t kKeepBytes = 64 * 1024;

  explicit ReusedMessages(const MethodBinding& method) : method_(method) {
    Pair& pair = Messages()[&method_];
    if (pair.request == nullptr) {
      pair.request.reset(method_.request->create());
      pair.response.reset(method_.response->create());
    } else {
      pair.request->Clear();
      pair.response->Clear();
    }
    request_ = pair.request.get();
    response_ = pair.response.get();
  }
  // `keep`: the call was small, and so are the messages now.
  void Done(bool keep) {
    if (!keep) Messages().erase(&method_);
  }

  MessageLite* request() { return request_; }
  MessageLite* response() { return response_; }

 private:
  struct Pair {
    std::unique_ptr<MessageLite> request;
    std::unique_ptr<MessageLite> response;
  };
  static std::unordered_map<const MethodBinding*, Pair>& Messages() {
    thread_local std::unordered_map<const MethodBinding*, Pair> messages;
    return messages;
  }

  const MethodBinding& method_;
  MessageLite* request_;
  MessageLite* response_;
};

// A callback service's unary call: the reactor finishes it, from any thread.
class CallbackUnary final : public ::grpc::ServerCallbackUnary, public WatchedCall {
 public:
  // `handler` is the service's handler of the method, which may hold a message allocator.
  CallbackUnary(const MethodBinding* method, ::grpc::internal::MethodHandler* handler,
                const MessageLimits* limits, notnets::ServerCall* call, CancelWatcher* watcher,
                const CallerStandIns* stand_ins, LiveCalls* live)
      : live_(live), method_(method), limits_(limits), call_(call), watcher_(watcher) {
    if (handler != nullptr && method->allocate_messages) {
      allocated_ = method->allocate_messages(handler);
    }
    if (allocated_.state != nullptr) {
      request_ = allocated_.request;
      response_ = allocated_.response;
      SetAllocatorState(&context_, allocated_.state);
    } else {
      own_request_.reset(method->request->create());
      own_response_.reset(method->response->create());
      request_ = own_request_.get();
      response_ = own_response_.get();
      // gRPC gives every callback unary call one, its own when the method has no allocator.
      SetAllocatorState(&context_, &own_state_);
    }
    SetDeadline(&context_, call->context()->deadline());
    SetClientMetadata(&context_, call->context()->client_metadata());
    stand_ins->Lend(&context_, this, method->name.c_str(), ::grpc::internal::RpcMethod::NORMAL_RPC,
                    call->context()->peer_identity());
  }
  ~CallbackUnary() override {
    if (allocated_.state != nullptr) allocated_.release(allocated_.state);
  }

  void Start(::grpc::Service* service) {
    size_t request_bytes = call_->request().size();
    notnets::Status parsed = MessageLimits::Over(request_bytes, limits_->max_receive)
                                 ? NativeStatus(limits_->ReceiveFailure(request_bytes))
                                 : ParseFrom(call_->request().view(), request_);
    if (!parsed.ok()) {
      // gRPC 1.51's callback handler answers a request it cannot parse as it answers a method
      // without a reactor: UNIMPLEMENTED, no message.
      if (parsed.error_code() == notnets::StatusCode::INTERNAL) {
        parsed = notnets::Status(notnets::StatusCode::UNIMPLEMENTED, "");
      }
      call_->Finish(parsed);
      delete this;
      return;
    }
    watcher_->Add(this);
    reactor_ = method_->callback_unary(service, &context_, request_, response_);
    if (reactor_ == nullptr) {
      // What a generated CallbackService method that was not overridden returns; gRPC answers
      // UNIMPLEMENTED.
      reactor_ = &unimplemented_;
      unimplemented_.Finish(::grpc::Status(::grpc::StatusCode::UNIMPLEMENTED, ""));
    }
    BindReactor(reactor_);
    // A cancellation that came while the method ran waited for its reactor.
    if (on_cancel_conditions_.fetch_sub(1, std::memory_order_acq_rel) == 1) reactor_->OnCancel();
    Unref();
  }

  void Finish(::grpc::Status status) override {
    if (finished_.exchange(true)) return;
    // Before the call is answered: the watcher reads its context.
    watcher_->Remove(this);
    notnets::ServerContext* native = call_->context();
    notnets::Status answer = ToNative(Outcome(std::move(status)), InitialMetadata(context_),
                                      TrailingMetadata(context_), native);
    if (answer.ok()) answer = SerializeInto(*response_, *limits_, call_->response());
    call_->Finish(answer);
    Unref();
  }
  // Initial metadata travels with the response. The reaction runs elsewhere: gRPC holds the
  // reactor's lock while it replays a StartSendInitialMetadata made before the bind.
  void SendInitialMetadata() override {
    refs_.fetch_add(1, std::memory_order_relaxed);
    Deferrer::Get().Run([this] {
      reactor_->OnSendInitialMetadataDone(true);
      Unref();
    });
  }

  const notnets::ServerContext* native_context() const override { return call_->context(); }
  void CancelLocked() override {
    MarkCancelled(&context_);
    refs_.fetch_add(1, std::memory_order_relaxed);
  }
  void Cancelled() override {
    if (on_cancel_conditions_.fetch_sub(1, std::memory_order_acq_rel) == 1) reactor_->OnCancel();
    Unref();
  }

 private:
  ::grpc::internal::ServerReactor* reactor() override { return reactor_; }
  void CallOnDone() override {}
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    reactor_->OnDone();
    delete this;
  }
  LiveCalls::Token live_;  // first: released after everything else of the call
  const MethodBinding* method_;
  const MessageLimits* limits_;  // the server's, which outlives its calls
  notnets::ServerCall* call_;
  CancelWatcher* watcher_;
  ::grpc::CallbackServerContext context_;
  // The messages: the method's message allocator's, given back after OnDone as gRPC does, or the
  // call's own.
  AllocatedMessages allocated_;
  std::unique_ptr<MessageLite> own_request_;
  std::unique_ptr<MessageLite> own_response_;
  ::grpc::RpcAllocatorState own_state_;
  MessageLite* request_;
  MessageLite* response_;
  ::grpc::ServerUnaryReactor* reactor_ = nullptr;
  class Unimplemented final : public ::grpc::ServerUnaryReactor {
    void OnDone() override {}
  } unimplemented_;
  std::atomic<bool> finished_{false};
  // Held by the method until it returned, the reactor until Finish, a cancellation being
  // delivered; OnDone runs when the last goes.
  std::atomic<int> refs_{2};
  // OnCancel needs both the cancellation and the reactor, which the method returns: a client
  // may cancel while the method runs. Whichever comes second runs it, as in gRPC.
  std::atomic<int> on_cancel_conditions_{2};
};

// Which of the service's generated flavours the instance is, and so what the pool can serve.
enum class Flavour { kSync, kCallback, kNeither };

Flavour FlavourOf(::grpc::Service* service, const ServiceBinding& binding) {
  if (binding.is_callback(service)) return Flavour::kCallback;
  if (binding.is_sync(service) && !service->has_async_methods() &&
      !service->has_generic_methods() && !service->has_callback_methods()) {
    return Flavour::kSync;
  }
  return Flavour::kNeither;
}

}  // namespace

PoolServer::PoolServer(::grpc::Service* service, const ServiceBinding& binding,
                       const MessageLimits& limits)
    : service_(service),
      service_name_(binding.name),
      limits_(limits),
      native_(binding.name),
      watcher_([this] { streams_.Sweep(); }) {}

PoolServer::~PoolServer() {
  // Not started: no call ever came.
  if (server_ == nullptr) return;
  Deferrer& deferrer = Deferrer::Get();
  // The notnets server stops taking calls, waits for running handlers, then for every call to be
  // answered; meanwhile its calls report IsCancelled(), which the watcher turns into OnCancel.
  if (deferrer.OnThread()) {
    // Reactions a reactor may wait for before it finishes are deferred to this very thread: it
    // runs them while another thread waits for the notnets server.
    std::atomic<bool> stopped{false};
    std::thread stopper([this, &stopped, &deferrer] {
      StopNative();
      stopped.store(true, std::memory_order_seq_cst);
      deferrer.Wake();
    });
    deferrer.RunUntil([&stopped] { return stopped.load(std::memory_order_seq_cst); });
    stopper.join();
  } else {
    StopNative();
  }
  // No cancellation is delivered and no sweep runs after this: the table is the teardown's.
  watcher_.Stop();
  // Every call is answered, but a reactor's OnDone, and reactions deferred before it, may still
  // be to come (a reactor finished from another thread, a stream's reactions on the deferrer):
  // gRPC's server waits for them, and so does this one, because they reach the service.
  live_.WaitNone([this] { streams_.ForgetDone(); });
}

void PoolServer::StopNative() {
  if (drain_timeout_.count() > 0) {
    server_->Drain(drain_timeout_);  // shuts down once drained
  } else {
    server_->Shutdown();
  }
}

notnets::Status PoolServer::Start(::grpc::Service* service, const ServiceBinding& binding,
                                  const ServerOptions& options, const MessageLimits& limits,
                                  ::grpc::Server* server, std::unique_ptr<PoolServer>* out) {
  Flavour flavour = service == nullptr ? Flavour::kNeither : FlavourOf(service, binding);
  // gRPC runs server interceptors only for its own calls: with any of the user's, every call is
  // bridged.
  const ServerInterceptorFactories& interceptors = InterceptorFactoriesOf(server);
  if (std::any_of(interceptors.begin(), interceptors.end(),
                  [](const auto& factory) { return !IsBridgedCallerInterceptors(*factory); })) {
    flavour = Flavour::kNeither;
  }
  std::unique_ptr<PoolServer> pool_server(new PoolServer(service, binding, limits));
  pool_server->grpc_server_ = server;
  for (const MethodBinding& method : binding.methods) {
    // A raw method on a CallbackService (WithRawCallbackMethod_) is reached through the bridge.
    if (flavour == Flavour::kCallback &&
        !IsRawCallbackMethod(service, "/" + binding.name + "/" + method.name)) {
      if (method.kind == RpcKind::kUnary) {
        pool_server->AddCallbackUnary(method);
      } else {
        pool_server->AddStreamOpen(method);
      }
      continue;
    }
    // A streamed unary method (Foo::StreamedService) runs only over a gRPC core call.
    if (flavour == Flavour::kSync && method.kind == RpcKind::kUnary &&
        IsServedAsUnary(service, "/" + binding.name + "/" + method.name)) {
      pool_server->AddSyncUnary(method);
      continue;
    }
    if (pool_server->bridge_ == nullptr) pool_server->bridge_ = std::make_unique<Bridge>(server);
    if (method.kind == RpcKind::kUnary) {
      pool_server->AddBridgedUnary(method);
    } else {
      pool_server->AddBridgedStream(method);
    }
  }
  pool_server->AddGenericMethods(binding.name);
  pool_server->AddStreamOperations();
  return Register(std::move(pool_server), options, out);
}

notnets::Status PoolServer::StartGeneric(const char* name, const ServerOptions& options,
                                         const MessageLimits& limits, ::grpc::Server* server,
                                         std::unique_ptr<PoolServer>* out) {
  ServiceBinding binding;
  binding.name = name;
  std::unique_ptr<PoolServer> pool_server(new PoolServer(nullptr, binding, limits));
  pool_server->grpc_server_ = server;
  pool_server->bridge_ = std::make_unique<Bridge>(server);
  pool_server->AddGenericMethods(std::string());
  pool_server->AddStreamOperations();
  ServerOptions registered = options;
  // The unrelated servers of a pool all serve it, and any of them answers as the others would.
  if (binding.name == kUnimplementedService) registered.replica = true;
  return Register(std::move(pool_server), registered, out);
}

void PoolServer::AddStreamOperations() {
  native_.AddAsyncMethod(kStreamMethod, [this](notnets::ServerCall* call) {
    std::string_view request = call->request().view();
    if (request.size() < kStreamOpHeaderBytes) {
      call->Finish(notnets::Status(notnets::StatusCode::INVALID_ARGUMENT,
                                   "a stream operation shorter than its header"));
      return;
    }
    streams_.Dispatch(DecodeStreamId(reinterpret_cast<const uint8_t*>(request.data()) + 1),
                      static_cast<uint8_t>(request[0]), call);
  });
}

notnets::Status PoolServer::Register(std::unique_ptr<PoolServer> pool_server,
                                     const ServerOptions& options,
                                     std::unique_ptr<PoolServer>* out) {
  std::shared_ptr<notnets::Pool> pool;
  notnets::PoolOptions pool_options;
  pool_options.size_bytes = options.pool_size_bytes;
  notnets::Status status =
      notnets::Pool::AttachOrCreate(PoolName(options.pool), pool_options, &pool);
  if (!status.ok()) return status;
  pool_server->stand_ins_ = std::make_unique<CallerStandIns>(pool->path());
  pool_server->drain_timeout_ = options.drain_timeout;
  notnets::ServerBuilder builder(pool);
  builder.RegisterService(&pool_server->native_).SetWorkerThreads(options.worker_threads);
  if (options.max_worker_threads != 0) builder.SetMaxWorkerThreads(options.max_worker_threads);
  builder.SetWorkerCpus(options.worker_cpus);
  if (options.replica) builder.ServeAsReplica();
  for (uint32_t uid : options.allowed_caller_uids) builder.AllowCallerUid(uid);
  for (uint32_t gid : options.allowed_caller_gids) builder.AllowCallerGid(gid);
  if (options.allow_any_caller) builder.AllowAnyCaller();
  for (uint32_t uid : options.allowed_registrant_uids) builder.AllowRegistrantUid(uid);
  status = builder.BuildAndStart(&pool_server->server_);
  if (!status.ok()) return status;
  *out = std::move(pool_server);
  return notnets::Status::OK;
}

void PoolServer::AddCallStart(std::string name, notnets::AsyncMethodHandler start) {
  native_.AddAsyncMethod(
      std::move(name), [this, start = std::move(start)](notnets::ServerCall* call) {
        ::grpc::Status refused = limits_.InitialMetadataFailure(call->context()->client_metadata());
        if (!refused.ok()) {
          call->Finish(NativeStatus(refused));
          return;
        }
        start(call);
      });
}

void PoolServer::AddSyncUnary(const MethodBinding& method) {
  native_.AddMethod(method.name, [this, &method](notnets::ServerContext* native,
                                                 const notnets::ReceivedMessage& request,
                                                 notnets::ServerResponse* response) {
    // Before the look at refusing_: a shutdown that saw no call then waits for none.
    LiveCalls::Token live(&live_);
    if (refusing_.load(std::memory_order_seq_cst)) return NativeStatus(ShuttingDown());
    ::grpc::Status refused = limits_.InitialMetadataFailure(native->client_metadata());
    if (!refused.ok()) return NativeStatus(refused);
    if (MessageLimits::Over(request.size(), limits_.max_receive)) {
      return NativeStatus(limits_.ReceiveFailure(request.size()));
    }
    ReusedMessages messages(method);
    notnets::Status status = ParseFrom(request.view(), messages.request());
    if (!status.ok()) {
      // As gRPC 1.51's sync handler answers a request it cannot parse.
      status = notnets::Status(notnets::StatusCode::INTERNAL,
                               messages.request()->InitializationErrorString());
      messages.Done(false);
      return status;
    }
    ::grpc::ServerContext context;
    SetDeadline(&context, native->deadline());
    SetClientMetadata(&context, native->client_metadata());
    SyncCall watched(native, &context);
    stand_ins_->Lend(&context, &watched, method.name.c_str(),
                     ::grpc::internal::RpcMethod::NORMAL_RPC, native->peer_identity());
    watcher_.Add(&watched);
    ::grpc::Status result = watched.Outcome(
        method.sync_unary(service_, &context, messages.request(), messages.response()));
    watcher_.Remove(&watched);
    watched.WaitUntilReleased();
    status = ToNative(result, InitialMetadata(context), TrailingMetadata(context), native);
    if (status.ok()) status = SerializeInto(*messages.response(), limits_, response);
    // After SerializeInto the response's cached size is its size.
    messages.Done(status.ok() && request.size() <= ReusedMessages::kKeepBytes &&
                  static_cast<size_t>(messages.response()->GetCachedSize()) <=
                      ReusedMessages::kKeepBytes);
    return status;
  });
}

void PoolServer::AddCallbackUnary(const MethodBinding& method) {
  ::grpc::internal::MethodHandler* handler =
      service_ == nullptr ? nullptr
                          : CallbackHandlerOf(service_, "/" + service_name_ + "/" + method.name);
  AddCallStart(method.name, [this, &method, handler](notnets::ServerCall* call) {
    if (Refused(call)) return;
    (new CallbackUnary(&method, handler, &limits_, call, &watcher_, stand_ins_.get(), &live_))
        ->Start(service_);
  });
}

void PoolServer::AddStreamOpen(const MethodBinding& method) {
  AddCallStart(method.name, [this, &method](notnets::ServerCall* call) {
    if (Refused(call)) return;
    std::string_view request = call->request().view();
    if (request.size() < kStreamIdBytes) {
      call->Finish(notnets::Status(notnets::StatusCode::INVALID_ARGUMENT,
                                   "a stream open shorter than the stream id"));
      return;
    }
    OpenStream(DecodeStreamId(reinterpret_cast<const uint8_t*>(request.data())), &method, nullptr,
               request.substr(kStreamIdBytes), call);
  });
}

void PoolServer::OpenStream(uint64_t id, const MethodBinding* method,
                            std::unique_ptr<const MethodBinding> owned, std::string_view message,
                            notnets::ServerCall* call) {
  auto stream = std::make_shared<ServerStream>(id, method, &limits_, call, &watcher_,
                                               stand_ins_.get(), &live_);
  if (owned != nullptr) stream->Keep(std::move(owned));
  if (method->kind == RpcKind::kServerStreaming) {
    notnets::Status parsed = MessageLimits::Over(message.size(), limits_.max_receive)
                                 ? NativeStatus(limits_.ReceiveFailure(message.size()))
                                 : stream->ParseRequest(message);
    if (!parsed.ok()) {
      stream->Refuse(parsed);
      return;
    }
  }
  if (!streams_.Add(stream)) {
    stream->Refuse(
        notnets::Status(notnets::StatusCode::ALREADY_EXISTS, "the client reused a stream id"));
    return;
  }
  stream->Start(service_);
}

void PoolServer::BeginShutdown() {
  {
    std::lock_guard<std::mutex> lock(bridge_mutex_);
    bridge_closed_ = true;
    if (bridge_ != nullptr) bridge_->Close();
  }
  if (server_ == nullptr) return;
  server_->BeginDrain();
  // Drained, the server serves what channels with no other replica still send, as Drain does.
  if (drain_timeout_.count() == 0) refusing_.store(true, std::memory_order_seq_cst);
}

bool PoolServer::Idle() {
  size_t streams = 0;
  if (!streams_.AllDone(&streams)) return false;
  // Every call holds a token; the streams in the table hold theirs until they are dropped.
  return static_cast<size_t>(live_.Count()) == streams;
}

bool PoolServer::Refused(notnets::ServerCall* call) {
  if (!refusing_.load(std::memory_order_seq_cst)) return false;
  call->Finish(NativeStatus(ShuttingDown()));
  return true;
}

void PoolServer::AddBridgedUnary(const MethodBinding& method) {
  AddCallStart(method.name,
               [this, path = "/" + service_name_ + "/" + method.name](notnets::ServerCall* call) {
                 bridge_->Unary(path, call->request().view(), call, &watcher_, &live_);
               });
}

Bridge* PoolServer::TheBridge() {
  std::lock_guard<std::mutex> lock(bridge_mutex_);
  if (bridge_ == nullptr && !bridge_closed_) bridge_ = std::make_unique<Bridge>(grpc_server_);
  return bridge_.get();
}

void PoolServer::AddGenericMethods(const std::string& own_service) {
  // "/pkg.Service/": the paths this service's entry carries; empty: any.
  std::string prefix = own_service.empty() ? std::string() : "/" + own_service + "/";
  AddCallStart(kGenericUnaryMethod, [this, prefix](notnets::ServerCall* call) {
    std::string_view message = call->request().view();
    std::string_view path;
    if (!TakePath(&message, &path) || !path.starts_with(prefix)) {
      call->Finish(notnets::Status(notnets::StatusCode::INVALID_ARGUMENT,
                                   "a generic call without its method's path"));
      return;
    }
    Bridge* bridge = TheBridge();
    if (bridge == nullptr) {
      call->Finish(NativeStatus(ShuttingDown()));
      return;
    }
    bridge->Unary(std::string(path), message, call, &watcher_, &live_);
  });
  AddCallStart(kGenericOpenMethod, [this, prefix](notnets::ServerCall* call) {
    std::string_view request = call->request().view();
    std::string_view rest = request.substr(std::min(request.size(), kStreamIdBytes + 1));
    std::string_view path;
    if (request.size() < kStreamIdBytes + 1 ||
        static_cast<uint8_t>(request[kStreamIdBytes]) >
            static_cast<uint8_t>(RpcKind::kBidiStreaming) ||
        !TakePath(&rest, &path) || !path.starts_with(prefix)) {
      call->Finish(notnets::Status(notnets::StatusCode::INVALID_ARGUMENT,
                                   "a generic stream open without its header"));
      return;
    }
    Bridge* bridge = TheBridge();
    if (bridge == nullptr) {
      call->Finish(NativeStatus(ShuttingDown()));
      return;
    }
    // The stream owns its method: the path is the client's, one of any number.
    auto method = std::make_unique<MethodBinding>();
    method->name = std::string(path);
    method->kind = static_cast<RpcKind>(request[kStreamIdBytes]);
    method->request = MessageTypeOf<RawMessage>();
    method->response = MessageTypeOf<RawMessage>();
    method->callback_stream = [bridge, bridged = method.get()](::grpc::Service*,
                                                               ServerStream* stream) {
      bridge->Stream(bridged->name, *bridged, stream);
    };
    const MethodBinding* bridged = method.get();
    OpenStream(DecodeStreamId(reinterpret_cast<const uint8_t*>(request.data())), bridged,
               std::move(method), rest, call);
  });
}

void PoolServer::AddBridgedStream(const MethodBinding& method) {
  MethodBinding& bridged = bridged_streams_.emplace_back(method);
  bridged.callback_stream = [this, &bridged, path = "/" + service_name_ + "/" + method.name](
                                ::grpc::Service*, ServerStream* stream) {
    bridge_->Stream(path, bridged, stream);
  };
  AddStreamOpen(bridged);
}

}  // namespace internal

namespace {

// The method whose requested call gRPC fails when the server starts shutting down.
constexpr char kShutdownWatchMethod[] = "/notnets.internal.PoolServer/WatchShutdown";
// The method of the call that holds the server's shutdown while pool calls are in flight.
constexpr char kShutdownHoldMethod[] = "/notnets.internal.PoolServer/HoldShutdown";
constexpr char kShutdownWatchService[] = "notnets.internal.PoolServer";
// How often a shutdown looks whether the pool calls in flight are over.
constexpr auto kShutdownLook = std::chrono::milliseconds(2);

// A completion queue tag of an operation started through gRPC's core API.
class CoreTag final : public ::grpc::internal::CompletionQueueTag {
 public:
  bool FinalizeResult(void** tag, bool*) override {
    *tag = this;
    return true;
  }
};

// Owns the pool servers of a grpc::Server, registered on it as a service, so that they go with
// it, and stops them taking calls when the server starts shutting down: the start is seen as
// gRPC failing the one call requested of the holder's watch method on the holder's own
// completion queue. gRPC's Shutdown waits for its calls in flight, and past its deadline cancels
// them; the pool calls get the same through one call of the holder's own, kept in flight in the
// server (over a socket pair, an HTTP/2 connection the server takes as any other), which gRPC
// waits for and cancels as one of its own: the holder ends it once the pool calls are over, and
// cancels them if gRPC cancelled it first. Meanwhile it holds the server's Shutdown before it
// finishes, so that the pool side has stopped before gRPC destroys its core server.
class PoolServerHolder final : public ::grpc::Service {
 public:
  PoolServerHolder() {
    AddMethod(new ::grpc::internal::RpcServiceMethod(
        kShutdownWatchMethod, ::grpc::internal::RpcMethod::NORMAL_RPC, nullptr));
    hold_method_ = new ::grpc::internal::RpcServiceMethod(
        kShutdownHoldMethod, ::grpc::internal::RpcMethod::NORMAL_RPC, nullptr);
    AddMethod(hold_method_);
    grpc_metadata_array_init(&hold_metadata_);
  }
  // After the server's core is gone: its queue can be shut down now.
  ~PoolServerHolder() override {
    if (watcher_.joinable()) {
      watcher_.join();
      queue_->Shutdown();
      void* tag;
      bool ok;
      while (queue_->Next(&tag, &ok)) {
      }
    }
    grpc_metadata_array_destroy(&hold_metadata_);
    if (hold_payload_ != nullptr) grpc_byte_buffer_destroy(hold_payload_);
  }

  // Once the servers are added and `server` started.
  void WatchShutdown(::grpc::Server* server, std::unique_ptr<::grpc::ServerCompletionQueue> queue) {
    queue_ = std::move(queue);
    internal::RefServer(server);
    RequestAsyncUnary(0, &context_, &request_, &responder_, queue_.get(), queue_.get(), this);
    bool holding = Hold(server);
    if (!holding) {
      gpr_log(GPR_ERROR,
              "notnets: grpc::Server::Shutdown() will not wait for the pool calls in flight");
    }
    watcher_ = std::thread([this, server, holding] { Watch(server, holding); });
  }

  std::vector<std::unique_ptr<internal::PoolServer>> servers;

 private:
  // Starts the call that gRPC's shutdown waits for; true once the server side has it (a call
  // still waiting to be matched when the shutdown starts would be refused, not waited for).
  bool Hold(::grpc::Server* server) {
    int fds[2];
    // Non-blocking, as gRPC's transports take their descriptors.
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return false;
    ::grpc::AddInsecureChannelFromFd(server, fds[0]);
    hold_channel_ = ::grpc::CreateInsecureChannelFromFd("notnets-shutdown-hold", fds[1]);
    // Through the core: gRPC's C++ layer would run the server's interceptors for it.
    if (grpc_server_request_registered_call(
            server->c_server(), hold_method_->server_tag(), &hold_call_, &hold_deadline_,
            &hold_metadata_, &hold_payload_, queue_->cq(), queue_->cq(), &held_) != GRPC_CALL_OK) {
      return false;
    }
    ::grpc::GenericStub stub(hold_channel_);
    ::grpc::Slice empty;
    ::grpc::ByteBuffer request(&empty, 1);
    hold_client_ =
        stub.PrepareUnaryCall(&hold_context_, kShutdownHoldMethod, request, queue_.get());
    hold_client_->StartCall();
    hold_client_->Finish(&hold_response_, &hold_status_, &hold_ended_);
    void* tag;
    bool ok;
    while (queue_->Next(&tag, &ok)) {
      if (tag == &held_) return ok;
      if (tag == &hold_ended_) return false;
    }
    return false;
  }

  // The watcher thread.
  void Watch(::grpc::Server* server, bool holding) {
    void* tag;
    bool ok;
    bool cancelled = false;  // gRPC cancelled the held call: its Shutdown's deadline passed
    // A client that calls the watch method itself gets no answer: the call ends with the server.
    while (queue_->Next(&tag, &ok) && tag != this) {
      if (tag == &hold_ended_) cancelled = true;
    }
    for (const auto& pool_server : servers) pool_server->BeginShutdown();
    auto idle = [this] {
      for (const auto& pool_server : servers) {
        if (!pool_server->Idle()) return false;
      }
      return true;
    };
    while (holding && !cancelled && !idle()) {
      auto next = queue_->AsyncNext(&tag, &ok, std::chrono::system_clock::now() + kShutdownLook);
      if (next == ::grpc::CompletionQueue::GOT_EVENT && tag == &hold_ended_) cancelled = true;
    }
    if (holding && cancelled) {
      for (const auto& pool_server : servers) pool_server->CancelCalls();
    }
    if (hold_call_ != nullptr) {
      grpc_call_cancel(hold_call_, nullptr);
      grpc_call_unref(hold_call_);
      hold_call_ = nullptr;
    }
    internal::UnrefServer(server);
  }

  ::grpc::ServerContext context_;
  ::grpc::ByteBuffer request_;
  ::grpc::ServerAsyncResponseWriter<::grpc::ByteBuffer> responder_{&context_};
  // Added to the server's builder; shut down once the server's core is gone.
  std::unique_ptr<::grpc::ServerCompletionQueue> queue_;
  // The held call: its method (owned by the service), its server side and its client side.
  ::grpc::internal::RpcServiceMethod* hold_method_;
  CoreTag held_;
  grpc_call* hold_call_ = nullptr;
  gpr_timespec hold_deadline_;
  grpc_metadata_array hold_metadata_;
  grpc_byte_buffer* hold_payload_ = nullptr;
  std::shared_ptr<::grpc::Channel> hold_channel_;
  ::grpc::ClientContext hold_context_;
  std::unique_ptr<::grpc::GenericClientAsyncResponseReader> hold_client_;
  ::grpc::ByteBuffer hold_response_;
  ::grpc::Status hold_status_;
  char hold_ended_ = 0;  // the client's Finish tag: completes as its call ends
  std::thread watcher_;
};

// `services` empty: every service the grpc::Server has (the builder's, `builder_services`, and
// those gRPC adds, such as the health service).
class PoolPlugin final : public ::grpc::ServerBuilderPlugin {
 public:
  PoolPlugin(std::vector<::grpc::Service*> services, std::vector<::grpc::Service*> builder_services,
             ServerOptions options)
      : services_(std::move(services)),
        builder_services_(std::move(builder_services)),
        options_(std::move(options)) {}
  std::string name() override { return "notnets-pool"; }
  void UpdateServerBuilder(::grpc::ServerBuilder* builder) override {
    queue_ = builder->AddCompletionQueue(false);
    // Seeing a call's metadata before the user's interceptors, so that they see the caller too.
    internal::AppendInterceptors(builder, internal::NewBridgedCallerInterceptors());
  }
  void InitServer(::grpc::ServerInitializer* initializer) override {
    holder_ = std::make_shared<PoolServerHolder>();
    initializer->RegisterService(holder_);
  }
  void Finish(::grpc::ServerInitializer* initializer) override {
    ::grpc::Server* server = internal::ServerOf(initializer);
    ServeAll(initializer, server);
    holder_->WatchShutdown(server, std::move(queue_));
    // The grpc::Server alone owns it now: the builder may outlive the server.
    holder_.reset();
  }
  void ChangeArguments(const std::string&, void*) override {}
  // Sees the arguments the server is built with: SetMaxReceiveMessageSize and
  // SetMaxSendMessageSize reach them, as do AddChannelArgument's.
  void UpdateChannelArguments(::grpc::ChannelArguments* arguments) override {
    limits_ = internal::LimitsOf(*arguments);
  }

 private:
  void ServeAll(::grpc::ServerInitializer* initializer, ::grpc::Server* server) {
    if (!services_.empty()) {
      for (::grpc::Service* service : services_) {
        Serve(service, internal::FindBinding(service), server);
      }
      return;
    }
    // Services with no binding linked (reflection, say) and generic services are served by
    // full method name, with the messages as bytes.
    bool by_name = internal::HasGenericService(server);
    for (const std::string& name : *initializer->GetServiceList()) {
      if (name == kShutdownWatchService) continue;
      const internal::ServiceBinding* binding = internal::FindBindingByName(name);
      if (binding == nullptr) {
        by_name = true;
        continue;
      }
      ::grpc::Service* instance = nullptr;
      for (::grpc::Service* service : builder_services_) {
        if (internal::FindBinding(service) == binding) instance = service;
      }
      Serve(instance, binding, server);
    }
    // A server with nothing to serve by full name answers, through gRPC, the calls of methods it
    // does not have, as over HTTP/2; one with something gets those calls by full name anyway.
    ServeByName(by_name ? internal::kGenericService : internal::kUnimplementedService, server);
  }
  void ServeByName(const char* name, ::grpc::Server* server) {
    std::unique_ptr<internal::PoolServer> pool_server;
    notnets::Status status =
        internal::PoolServer::StartGeneric(name, options_, limits_, server, &pool_server);
    if (!status.ok()) {
      gpr_log(GPR_ERROR,
              "notnets: not serving calls by full method name over the pool (%s: generic "
              "services, services with no binding, methods the server does not have), HTTP/2 "
              "only: %s",
              name, status.error_message().c_str());
      return;
    }
    holder_->servers.push_back(std::move(pool_server));
  }
  void Serve(::grpc::Service* service, const internal::ServiceBinding* binding,
             ::grpc::Server* server) {
    if (binding == nullptr) {
      gpr_log(GPR_ERROR,
              "notnets: this service type has no binding linked into the program (generate it "
              "with protoc-gen-notnets and link the .notnets.pb.cc); serving it over HTTP/2 only");
      return;
    }
    std::unique_ptr<internal::PoolServer> pool_server;
    notnets::Status status =
        internal::PoolServer::Start(service, *binding, options_, limits_, server, &pool_server);
    if (!status.ok()) {
      gpr_log(GPR_ERROR, "notnets: not serving %s over the pool, HTTP/2 only: %s",
              binding->name.c_str(), status.error_message().c_str());
      return;
    }
    holder_->servers.push_back(std::move(pool_server));
  }

  std::vector<::grpc::Service*> services_;
  std::vector<::grpc::Service*> builder_services_;
  ServerOptions options_;
  internal::MessageLimits limits_;
  std::unique_ptr<::grpc::ServerCompletionQueue> queue_;
  std::shared_ptr<PoolServerHolder> holder_;
};

class PoolOption final : public ::grpc::ServerBuilderOption {
 public:
  // `service` null: every service of `builder`'s server.
  PoolOption(::grpc::ServerBuilder* builder, ::grpc::Service* service, ServerOptions options)
      : builder_(builder), service_(service), options_(std::move(options)) {}
  void UpdateArguments(::grpc::ChannelArguments*) override {}
  // Runs in BuildAndStart, once every service is registered on the builder.
  void UpdatePlugins(std::vector<std::unique_ptr<::grpc::ServerBuilderPlugin>>* plugins) override {
    std::vector<::grpc::Service*> services;
    if (service_ != nullptr) services.push_back(service_);
    plugins->push_back(std::make_unique<PoolPlugin>(std::move(services),
                                                    internal::ServicesOf(builder_), options_));
  }

 private:
  ::grpc::ServerBuilder* builder_;
  ::grpc::Service* service_;
  ServerOptions options_;
};

}  // namespace

void ServeOverPool(::grpc::ServerBuilder* builder, ::grpc::Service* service,
                   const ServerOptions& options) {
  builder->SetOption(std::make_unique<PoolOption>(builder, service, options));
}

void ServeOverPool(::grpc::ServerBuilder* builder, const ServerOptions& options) {
  builder->SetOption(std::make_unique<PoolOption>(builder, nullptr, options));
}

}  // namespace notnets::grpc
