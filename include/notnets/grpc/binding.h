// How a gRPC service's methods map onto the pool: what protoc-gen-notnets generates calls into.
// Users do not include this header; the generated foo.notnets.pb.cc does.
#ifndef NOTNETS_GRPC_BINDING_H_
#define NOTNETS_GRPC_BINDING_H_

#include <google/protobuf/message_lite.h>
#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/message_allocator.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace notnets::grpc {

enum class RpcKind { kUnary, kClientStreaming, kServerStreaming, kBidiStreaming };

namespace internal {

using ::google::protobuf::MessageLite;

// One message type, erased: stubs and services hand messages over as void*.
struct MessageType {
  MessageLite* (*create)();
  const MessageLite* (*view)(const void* message);
  MessageLite* (*view_mutable)(void* message);
};

template <class Message>
const MessageType* MessageTypeOf() {
  static const MessageType type{
      []() -> MessageLite* { return new Message(); },
      [](const void* message) -> const MessageLite* {
        return static_cast<const Message*>(message);
      },
      [](void* message) -> MessageLite* { return static_cast<Message*>(message); }};
  return &type;
}

// A streaming call's server end over the pool (src/grpc/server_stream.h).
class ServerStream;

// What a ServerStream reports to the reactor bound to it.
class StreamReactions {
 public:
  virtual ~StreamReactions() = default;
  virtual void OnSendInitialMetadataDone(bool ok) = 0;
  virtual void OnReadDone(bool ok) = 0;
  virtual void OnWriteDone(bool ok) = 0;
  virtual void OnCancel() = 0;
  // The last reaction: the stream is gone after it.
  virtual void OnDone() = 0;
};

// The operations of a ServerStream, for the typed adapters below.
::grpc::CallbackServerContext* StreamContext(ServerStream* stream);
void StreamBind(ServerStream* stream, StreamReactions* reactions);
void StreamSendInitialMetadata(ServerStream* stream);
void StreamRead(ServerStream* stream, MessageLite* message);
void StreamWrite(ServerStream* stream, const MessageLite& message);
void StreamFinish(ServerStream* stream, ::grpc::Status status);
// The single request of a server-streaming call (parsed when the call opened).
const MessageLite* StreamRequest(ServerStream* stream);
// Where a client-streaming call's single response is built.
MessageLite* StreamResponse(ServerStream* stream);

// Forwards a reactor's operations to its ServerStream and the stream's reactions to the reactor.
// `Call` is the grpc::ServerCallback* interface of the method's kind, `Reactor` its reactor.
template <class Call, class Reactor>
class StreamAdapter : public Call, public StreamReactions {
 public:
  explicit StreamAdapter(ServerStream* stream) : stream_(stream) {}
  // `reactor` is what the method returned: null ends the call with UNIMPLEMENTED, as gRPC does.
  void Attach(Reactor* reactor) {
    if (reactor == nullptr) {
      unimplemented_ = std::make_unique<Unimplemented>();
      unimplemented_->Finish(::grpc::Status(::grpc::StatusCode::UNIMPLEMENTED, ""));
      reactor = unimplemented_.get();
    }
    reactor_ = reactor;
    StreamBind(stream_, this);
    this->BindReactor(reactor);
  }
  void Finish(::grpc::Status status) override { StreamFinish(stream_, std::move(status)); }
  void SendInitialMetadata() override { StreamSendInitialMetadata(stream_); }

  void OnSendInitialMetadataDone(bool ok) override { reactor_->OnSendInitialMetadataDone(ok); }
  void OnReadDone(bool ok) override {
    if constexpr (requires { reactor_->OnReadDone(ok); }) reactor_->OnReadDone(ok);
  }
  void OnWriteDone(bool ok) override {
    if constexpr (requires { reactor_->OnWriteDone(ok); }) reactor_->OnWriteDone(ok);
  }
  void OnCancel() override { reactor_->OnCancel(); }
  void OnDone() override { reactor_->OnDone(); }

 protected:
  ServerStream* stream() const { return stream_; }

 private:
  ::grpc::internal::ServerReactor* reactor() override { return reactor_; }
  // gRPC core would call this; the stream calls OnDone itself.
  void CallOnDone() override {}

  // Stands in for a null reactor; it lives as long as the adapter, which outlives OnDone.
  class Unimplemented final : public Reactor {
    void OnDone() override {}
  };

  ServerStream* stream_;
  Reactor* reactor_ = nullptr;
  std::unique_ptr<Unimplemented> unimplemented_;
};

template <class Request>
class ReaderAdapter final : public StreamAdapter<::grpc::ServerCallbackReader<Request>,
                                                 ::grpc::ServerReadReactor<Request>> {
 public:
  using ReaderAdapter::StreamAdapter::StreamAdapter;
  void Read(Request* message) override { StreamRead(this->stream(), message); }
};

template <class Response>
class WriterAdapter final : public StreamAdapter<::grpc::ServerCallbackWriter<Response>,
                                                 ::grpc::ServerWriteReactor<Response>> {
 public:
  using WriterAdapter::StreamAdapter::StreamAdapter;
  void Write(const Response* message, ::grpc::WriteOptions) override {
    StreamWrite(this->stream(), *message);
  }
  void WriteAndFinish(const Response* message, ::grpc::WriteOptions,
                      ::grpc::Status status) override {
    StreamWrite(this->stream(), *message);
    StreamFinish(this->stream(), std::move(status));
  }
};

template <class Request, class Response>
class ReaderWriterAdapter final
    : public StreamAdapter<::grpc::ServerCallbackReaderWriter<Request, Response>,
                           ::grpc::ServerBidiReactor<Request, Response>> {
 public:
  using ReaderWriterAdapter::StreamAdapter::StreamAdapter;
  void Read(Request* message) override { StreamRead(this->stream(), message); }
  void Write(const Response* message, ::grpc::WriteOptions) override {
    StreamWrite(this->stream(), *message);
  }
  void WriteAndFinish(const Response* message, ::grpc::WriteOptions,
                      ::grpc::Status status) override {
    StreamWrite(this->stream(), *message);
    StreamFinish(this->stream(), std::move(status));
  }
};

// The messages of one call of a callback unary method, from its message allocator; `state` is
// what the handler's GetRpcAllocatorState() returns, and `release` gives them back.
struct AllocatedMessages {
  ::grpc::RpcAllocatorState* state = nullptr;
  MessageLite* request = nullptr;
  MessageLite* response = nullptr;
  void (*release)(::grpc::RpcAllocatorState* state) = nullptr;
};

// One method as the pool sees it. The server fields are set for the service flavours that can
// serve it over the pool.
struct MethodBinding {
  std::string name;  // "SayHello"
  RpcKind kind;
  const MessageType* request;
  const MessageType* response;
  // A Foo::Service's unary method, run on a server worker thread.
  std::function<::grpc::Status(::grpc::Service*, ::grpc::ServerContext*, const MessageLite*,
                               MessageLite*)>
      sync_unary;
  // A Foo::CallbackService's unary method: returns its reactor.
  std::function<::grpc::ServerUnaryReactor*(::grpc::Service*, ::grpc::CallbackServerContext*,
                                            const MessageLite*, MessageLite*)>
      callback_unary;
  // A Foo::CallbackService's unary method: a call's messages from the message allocator set on
  // `handler` (the service's handler of the method, SetMessageAllocatorFor_Foo), as gRPC takes
  // them; no `state` when it has none. Unset for bindings that cannot read it.
  std::function<AllocatedMessages(::grpc::internal::MethodHandler* handler)> allocate_messages;
  // A Foo::CallbackService's streaming method: calls it and attaches its reactor to `stream`.
  std::function<void(::grpc::Service*, ServerStream* stream)> callback_stream;
};

// One service: its full name ("pkg.Greeter"), its methods in declaration order, and how to tell
// which flavour of its generated service a grpc::Service is.
struct ServiceBinding {
  std::string name;
  std::vector<MethodBinding> methods;
  bool (*is_sync)(::grpc::Service* service) = nullptr;
  bool (*is_callback)(::grpc::Service* service) = nullptr;
};

// The bindings linked into this process.
void RegisterBinding(ServiceBinding binding);
// The binding of the service `service` is an instance of; nullptr if none is linked.
const ServiceBinding* FindBinding(::grpc::Service* service);
// The binding of the service named `name` ("pkg.Service"); nullptr if none is linked.
const ServiceBinding* FindBindingByName(std::string_view name);
// The binding of "/pkg.Service/Method"; nullptr if none is linked.
const MethodBinding* FindMethod(const std::string& full_method, const ServiceBinding** service);

}  // namespace internal

// Builds the binding of `Grpc` (the class grpc_cpp_plugin generates for a service), one method
// per call, in declaration order.
template <class Grpc>
class ServiceBinder {
 public:
  explicit ServiceBinder(const char* full_name) {
    binding_.name = full_name;
    binding_.is_sync = [](::grpc::Service* service) {
      return dynamic_cast<typename Grpc::Service*>(service) != nullptr;
    };
    binding_.is_callback = [](::grpc::Service* service) {
      return dynamic_cast<typename Grpc::CallbackService*>(service) != nullptr;
    };
  }

  // `allocator_of`, if set, reads the message allocator a callback handler of the method holds.
  template <class Request, class Response>
  ServiceBinder&& Unary(
      const char* name,
      ::grpc::Status (Grpc::Service::*sync)(::grpc::ServerContext*, const Request*, Response*),
      ::grpc::ServerUnaryReactor* (Grpc::CallbackService::*callback)(::grpc::CallbackServerContext*,
                                                                     const Request*, Response*),
      ::grpc::MessageAllocator<Request, Response>* (*allocator_of)(
          ::grpc::internal::MethodHandler* handler) = nullptr) && {
    internal::MethodBinding method = Method<Request, Response>(name, RpcKind::kUnary);
    if (allocator_of != nullptr) {
      method.allocate_messages = [allocator_of](::grpc::internal::MethodHandler* handler) {
        internal::AllocatedMessages messages;
        ::grpc::MessageAllocator<Request, Response>* allocator = allocator_of(handler);
        if (allocator == nullptr) return messages;
        ::grpc::MessageHolder<Request, Response>* holder = allocator->AllocateMessages();
        messages.state = holder;
        messages.request = holder->request();
        messages.response = holder->response();
        messages.release = [](::grpc::RpcAllocatorState* state) {
          static_cast<::grpc::MessageHolder<Request, Response>*>(state)->Release();
        };
        return messages;
      };
    }
    method.sync_unary = [sync](::grpc::Service* service, ::grpc::ServerContext* context,
                               const internal::MessageLite* request,
                               internal::MessageLite* response) {
      return (static_cast<typename Grpc::Service*>(service)->*sync)(
          context, static_cast<const Request*>(request), static_cast<Response*>(response));
    };
    method.callback_unary =
        [callback](::grpc::Service* service, ::grpc::CallbackServerContext* context,
                   const internal::MessageLite* request, internal::MessageLite* response) {
          return (static_cast<typename Grpc::CallbackService*>(service)->*callback)(
              context, static_cast<const Request*>(request), static_cast<Response*>(response));
        };
    binding_.methods.push_back(std::move(method));
    return std::move(*this);
  }

  template <class Request, class Response>
  ServiceBinder&& ClientStreaming(
      const char* name, ::grpc::ServerReadReactor<Request>* (Grpc::CallbackService::*callback)(
                            ::grpc::CallbackServerContext*, Response*)) && {
    internal::MethodBinding method = Method<Request, Response>(name, RpcKind::kClientStreaming);
    method.callback_stream = [callback](::grpc::Service* service, internal::ServerStream* stream) {
      auto* adapter = new internal::ReaderAdapter<Request>(stream);
      adapter->Attach((static_cast<typename Grpc::CallbackService*>(service)->*callback)(
          internal::StreamContext(stream),
          static_cast<Response*>(internal::StreamResponse(stream))));
    };
    binding_.methods.push_back(std::move(method));
    return std::move(*this);
  }

  template <class Request, class Response>
  ServiceBinder&& ServerStreaming(
      const char* name, ::grpc::ServerWriteReactor<Response>* (Grpc::CallbackService::*callback)(
                            ::grpc::CallbackServerContext*, const Request*)) && {
    internal::MethodBinding method = Method<Request, Response>(name, RpcKind::kServerStreaming);
    method.callback_stream = [callback](::grpc::Service* service, internal::ServerStream* stream) {
      auto* adapter = new internal::WriterAdapter<Response>(stream);
      adapter->Attach((static_cast<typename Grpc::CallbackService*>(service)->*callback)(
          internal::StreamContext(stream),
          static_cast<const Request*>(internal::StreamRequest(stream))));
    };
    binding_.methods.push_back(std::move(method));
    return std::move(*this);
  }

  template <class Request, class Response>
  ServiceBinder&& BidiStreaming(
      const char* name, ::grpc::ServerBidiReactor<Request, Response>* (
                            Grpc::CallbackService::*callback)(::grpc::CallbackServerContext*)) && {
    internal::MethodBinding method = Method<Request, Response>(name, RpcKind::kBidiStreaming);
    method.callback_stream = [callback](::grpc::Service* service, internal::ServerStream* stream) {
      auto* adapter = new internal::ReaderWriterAdapter<Request, Response>(stream);
      adapter->Attach((static_cast<typename Grpc::CallbackService*>(service)->*callback)(
          internal::StreamContext(stream)));
    };
    binding_.methods.push_back(std::move(method));
    return std::move(*this);
  }

  internal::ServiceBinding Build() && { return std::move(binding_); }

 private:
  template <class Request, class Response>
  static internal::MethodBinding Method(const char* name, RpcKind kind) {
    internal::MethodBinding method;
    method.name = name;
    method.kind = kind;
    method.request = internal::MessageTypeOf<Request>();
    method.response = internal::MessageTypeOf<Response>();
    return method;
  }

  internal::ServiceBinding binding_;
};

// Registers a service's binding when the program starts (a static object in generated code).
class ServiceRegistration {
 public:
  template <class Grpc>
  ServiceRegistration(ServiceBinder<Grpc>&& binder) {  // NOLINT: converts the generated chain
    internal::RegisterBinding(std::move(binder).Build());
  }
};

}  // namespace notnets::grpc

#endif  // NOTNETS_GRPC_BINDING_H_
