#include "notnets/grpc/server.h"

#include <grpc/support/log.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>

#include <atomic>
#include <memory>
#include <thread>
#include <unordered_map>

#include "grpc/deferrer.h"
#include "grpc/message_io.h"
#include "grpc/pool_name.h"
#include "grpc/pool_server.h"
#include "grpc/server_context_access.h"
#include "grpc/wire.h"
#include "notnets/pool.h"

namespace notnets::grpc {

namespace internal {

namespace {

// A synchronous handler's call, for the watcher: cancellation only sets the context's flag.
class SyncCall final : public WatchedCall {
 public:
  SyncCall(const notnets::ServerContext* native, ::grpc::ServerContext* context)
      : native_(native), context_(context) {}
  const notnets::ServerContext* native_context() const override { return native_; }
  void CancelLocked() override { MarkCancelled(context_); }
  void Cancelled() override {}

 private:
  const notnets::ServerContext* native_;
  ::grpc::ServerContext* context_;
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
  CallbackUnary(const MethodBinding* method, const MessageLimits* limits, notnets::ServerCall* call,
                CancelWatcher* watcher, LiveCalls* live)
      : live_(live),
        method_(method),
        limits_(limits),
        call_(call),
        watcher_(watcher),
        request_(method->request->create()),
        response_(method->response->create()) {
    SetDeadline(&context_, call->context()->deadline());
    SetClientMetadata(&context_, call->context()->client_metadata());
  }

  void Start(::grpc::Service* service) {
    size_t request_bytes = call_->request().size();
    notnets::Status parsed = MessageLimits::Over(request_bytes, limits_->max_receive)
                                 ? NativeStatus(limits_->ReceiveFailure(request_bytes))
                                 : ParseFrom(call_->request().view(), request_.get());
    if (!parsed.ok()) {
      call_->Finish(parsed);
      delete this;
      return;
    }
    watcher_->Add(this);
    reactor_ = method_->callback_unary(service, &context_, request_.get(), response_.get());
    if (reactor_ == nullptr) {
      // What a generated CallbackService method that was not overridden returns; gRPC answers
      // UNIMPLEMENTED.
      reactor_ = &unimplemented_;
      unimplemented_.Finish(::grpc::Status(::grpc::StatusCode::UNIMPLEMENTED, ""));
    }
    BindReactor(reactor_);
    Unref();
  }

  void Finish(::grpc::Status status) override {
    if (finished_.exchange(true)) return;
    // Before the call is answered: the watcher reads its context.
    watcher_->Remove(this);
    notnets::ServerContext* native = call_->context();
    notnets::Status answer =
        ToNative(status, InitialMetadata(context_), TrailingMetadata(context_), native);
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
    reactor_->OnCancel();
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
  std::unique_ptr<MessageLite> request_;
  std::unique_ptr<MessageLite> response_;
  ::grpc::ServerUnaryReactor* reactor_ = nullptr;
  class Unimplemented final : public ::grpc::ServerUnaryReactor {
    void OnDone() override {}
  } unimplemented_;
  std::atomic<bool> finished_{false};
  // Held by the method until it returned, the reactor until Finish, a cancellation being
  // delivered; OnDone runs when the last goes.
  std::atomic<int> refs_{2};
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
      server_->Shutdown();
      stopped.store(true, std::memory_order_seq_cst);
      deferrer.Wake();
    });
    deferrer.RunUntil([&stopped] { return stopped.load(std::memory_order_seq_cst); });
    stopper.join();
  } else {
    server_->Shutdown();
  }
  // No cancellation is delivered and no sweep runs after this: the table is the teardown's.
  watcher_.Stop();
  // Every call is answered, but a reactor's OnDone, and reactions deferred before it, may still
  // be to come (a reactor finished from another thread, a stream's reactions on the deferrer):
  // gRPC's server waits for them, and so does this one, because they reach the service.
  live_.WaitNone([this] { streams_.ForgetDone(); });
}

notnets::Status PoolServer::Start(::grpc::Service* service, const ServiceBinding& binding,
                                  const ServerOptions& options, const MessageLimits& limits,
                                  std::unique_ptr<PoolServer>* out) {
  Flavour flavour = FlavourOf(service, binding);
  if (flavour == Flavour::kNeither) {
    return notnets::Status(notnets::StatusCode::UNIMPLEMENTED,
                           "service " + binding.name +
                               " mixes async, generic or callback methods; only a class derived "
                               "from the generated Service or CallbackService is served over the "
                               "pool");
  }
  std::unique_ptr<PoolServer> server(new PoolServer(service, binding, limits));
  bool streams = false;
  for (const MethodBinding& method : binding.methods) {
    if (method.kind == RpcKind::kUnary) {
      if (flavour == Flavour::kSync) {
        server->AddSyncUnary(method);
      } else {
        server->AddCallbackUnary(method);
      }
    } else if (flavour == Flavour::kCallback) {
      server->AddStreamOpen(method);
      streams = true;
    }
  }
  if (streams) {
    server->native_.AddAsyncMethod(kStreamMethod, [raw = server.get()](notnets::ServerCall* call) {
      std::string_view request = call->request().view();
      if (request.size() < kStreamOpHeaderBytes) {
        call->Finish(notnets::Status(notnets::StatusCode::INVALID_ARGUMENT,
                                     "a stream operation shorter than its header"));
        return;
      }
      raw->streams_.Dispatch(DecodeStreamId(reinterpret_cast<const uint8_t*>(request.data()) + 1),
                             static_cast<uint8_t>(request[0]), call);
    });
  }
  std::shared_ptr<notnets::Pool> pool;
  notnets::PoolOptions pool_options;
  pool_options.size_bytes = options.pool_size_bytes;
  notnets::Status status =
      notnets::Pool::AttachOrCreate(PoolName(options.pool), pool_options, &pool);
  if (!status.ok()) return status;
  status = notnets::ServerBuilder(pool)
               .RegisterService(&server->native_)
               .SetWorkerThreads(options.worker_threads)
               .BuildAndStart(&server->server_);
  if (!status.ok()) return status;
  *out = std::move(server);
  return notnets::Status::OK;
}

void PoolServer::AddSyncUnary(const MethodBinding& method) {
  native_.AddMethod(method.name, [this, &method](notnets::ServerContext* native,
                                                 const notnets::ReceivedMessage& request,
                                                 notnets::ServerResponse* response) {
    if (MessageLimits::Over(request.size(), limits_.max_receive)) {
      return NativeStatus(limits_.ReceiveFailure(request.size()));
    }
    ReusedMessages messages(method);
    notnets::Status status = ParseFrom(request.view(), messages.request());
    if (!status.ok()) {
      messages.Done(false);
      return status;
    }
    ::grpc::ServerContext context;
    SetDeadline(&context, native->deadline());
    SetClientMetadata(&context, native->client_metadata());
    SyncCall watched(native, &context);
    watcher_.Add(&watched);
    ::grpc::Status result =
        method.sync_unary(service_, &context, messages.request(), messages.response());
    watcher_.Remove(&watched);
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
  native_.AddAsyncMethod(method.name, [this, &method](notnets::ServerCall* call) {
    (new CallbackUnary(&method, &limits_, call, &watcher_, &live_))->Start(service_);
  });
}

void PoolServer::AddStreamOpen(const MethodBinding& method) {
  native_.AddAsyncMethod(method.name, [this, &method](notnets::ServerCall* call) {
    std::string_view request = call->request().view();
    if (request.size() < kStreamIdBytes) {
      call->Finish(notnets::Status(notnets::StatusCode::INVALID_ARGUMENT,
                                   "a stream open shorter than the stream id"));
      return;
    }
    uint64_t id = DecodeStreamId(reinterpret_cast<const uint8_t*>(request.data()));
    auto stream =
        std::make_shared<ServerStream>(id, &method, &limits_, call, &watcher_, &streams_, &live_);
    if (method.kind == RpcKind::kServerStreaming) {
      std::string_view message = request.substr(kStreamIdBytes);
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
  });
}

}  // namespace internal

namespace {

// Starts the pool server when the grpc::Server starts, and ties their lifetimes: the pool server
// is owned by a method-less grpc::Service registered on the grpc::Server.
class PoolServerHolder final : public ::grpc::Service {
 public:
  std::unique_ptr<internal::PoolServer> server;
};

class PoolPlugin final : public ::grpc::ServerBuilderPlugin {
 public:
  PoolPlugin(::grpc::Service* service, ServerOptions options)
      : service_(service), options_(std::move(options)) {}
  std::string name() override { return "notnets-pool"; }
  void InitServer(::grpc::ServerInitializer* initializer) override {
    holder_ = std::make_shared<PoolServerHolder>();
    initializer->RegisterService(holder_);
  }
  void Finish(::grpc::ServerInitializer*) override {
    const internal::ServiceBinding* binding = internal::FindBinding(service_);
    if (binding == nullptr) {
      gpr_log(GPR_ERROR,
              "notnets: this service type has no binding linked into the program (generate it "
              "with protoc-gen-notnets and link the .notnets.pb.cc); serving it over HTTP/2 only");
      return;
    }
    notnets::Status status =
        internal::PoolServer::Start(service_, *binding, options_, limits_, &holder_->server);
    if (!status.ok()) {
      gpr_log(GPR_ERROR, "notnets: not serving %s over the pool, HTTP/2 only: %s",
              binding->name.c_str(), status.error_message().c_str());
    }
  }
  void ChangeArguments(const std::string&, void*) override {}
  // Sees the arguments the server is built with: SetMaxReceiveMessageSize and
  // SetMaxSendMessageSize reach them, as do AddChannelArgument's.
  void UpdateChannelArguments(::grpc::ChannelArguments* arguments) override {
    limits_ = internal::LimitsOf(*arguments);
  }

 private:
  ::grpc::Service* service_;
  ServerOptions options_;
  internal::MessageLimits limits_;
  std::shared_ptr<PoolServerHolder> holder_;
};

class PoolOption final : public ::grpc::ServerBuilderOption {
 public:
  PoolOption(::grpc::Service* service, ServerOptions options)
      : service_(service), options_(std::move(options)) {}
  void UpdateArguments(::grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<::grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->push_back(std::make_unique<PoolPlugin>(service_, options_));
  }

 private:
  ::grpc::Service* service_;
  ServerOptions options_;
};

}  // namespace

void ServeOverPool(::grpc::ServerBuilder* builder, ::grpc::Service* service,
                   const ServerOptions& options) {
  builder->SetOption(std::make_unique<PoolOption>(service, options));
}

}  // namespace notnets::grpc
