#include "grpc/bridge.h"

#include <grpcpp/support/client_callback.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "grpc/bridged_caller.h"
#include "grpc/message_io.h"
#include "grpc/server_context_access.h"
#include "grpc/server_stream.h"
#include "grpc/wire.h"

namespace notnets::grpc::internal {

::grpc::Status ShuttingDown() {
  return ::grpc::Status(::grpc::StatusCode::UNAVAILABLE,
                        "notnets: the grpc::Server is shutting down and takes no new call; call "
                        "another server of the service");
}

namespace {

using ::grpc::ByteBuffer;

std::chrono::system_clock::time_point SystemDeadline(std::chrono::steady_clock::time_point at) {
  if (at == std::chrono::steady_clock::time_point::max()) {
    return std::chrono::system_clock::time_point::max();
  }
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(
             at - std::chrono::steady_clock::now());
}

template <class Map>
void ForwardClientMetadata(const Map& metadata, ::grpc::ClientContext* context) {
  for (const auto& [key, value] : metadata) {
    if (std::string_view(key.data(), key.size()) == kBridgedCallerKey) continue;
    context->AddMetadata(std::string(key.data(), key.size()),
                         std::string(value.data(), value.size()));
  }
}

// Server metadata as the pool answer carries them. The status details and code travel in the
// status, which puts them back in the trailer: not twice.
std::multimap<std::string, std::string> Copy(
    const std::multimap<::grpc::string_ref, ::grpc::string_ref>& metadata) {
  std::multimap<std::string, std::string> copy;
  for (const auto& [key, value] : metadata) {
    std::string name(key.data(), key.size());
    if (name == kStatusDetailsKey || name == kStatusCodeKey) continue;
    copy.emplace(std::move(name), std::string(value.data(), value.size()));
  }
  return copy;
}

ByteBuffer ToBuffer(std::string_view bytes) {
  ::grpc::Slice slice(bytes.data(), bytes.size());
  return ByteBuffer(&slice, 1);
}

notnets::Status ToResponse(const ByteBuffer& buffer, notnets::ServerResponse* response) {
  std::vector<::grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) {
    return notnets::Status(notnets::StatusCode::INTERNAL, "the bridged response is unreadable");
  }
  if (slices.size() == 1) {
    response->Copy(
        std::string_view(reinterpret_cast<const char*>(slices[0].begin()), slices[0].size()));
    return notnets::Status::OK;
  }
  notnets::MessageBuffer out;
  notnets::Status status = response->Allocate(buffer.Length(), &out);
  if (!status.ok()) return status;
  size_t at = 0;
  for (const ::grpc::Slice& slice : slices) {
    std::memcpy(out.data() + at, slice.begin(), slice.size());
    at += slice.size();
  }
  out.set_size(at);
  response->Send(std::move(out));
  return notnets::Status::OK;
}

notnets::Status ParseBuffer(const ByteBuffer& buffer, MessageLite* message) {
  std::vector<::grpc::Slice> slices;
  std::string bytes;
  if (buffer.Dump(&slices).ok()) {
    for (const ::grpc::Slice& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  return ParseFrom(bytes, message);
}

// One unary call on its way through the in-process channel.
class BridgedUnary final : public WatchedCall {
 public:
  BridgedUnary(notnets::ServerCall* call, std::string_view message, CancelWatcher* watcher,
               LiveCalls* live)
      : live_(live), call_(call), watcher_(watcher), request_(ToBuffer(message)) {
    const notnets::ServerContext* native = call->context();
    ForwardClientMetadata(native->client_metadata(), &context_);
    AddBridgedCaller(native->peer_identity(), &context_);
    context_.set_deadline(SystemDeadline(native->deadline()));
  }

  void Start(::grpc::GenericStub* stub, const std::string& path) {
    watcher_->Add(this);
    stub->UnaryCall(&context_, path, ::grpc::StubOptions(), &request_, &response_,
                    [this](::grpc::Status status) { Done(std::move(status)); });
  }

  const notnets::ServerContext* native_context() const override { return call_->context(); }
  void CancelLocked() override { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Cancelled() override {
    context_.TryCancel();
    Unref();
  }

 private:
  void Done(::grpc::Status status) {
    // Before the call is answered: the watcher reads its context.
    watcher_->Remove(this);
    notnets::ServerContext* native = call_->context();
    notnets::Status answer = ToNative(status, Copy(context_.GetServerInitialMetadata()),
                                      Copy(context_.GetServerTrailingMetadata()), native);
    if (answer.ok()) answer = ToResponse(response_, call_->response());
    call_->Finish(answer);
    Unref();
  }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  LiveCalls::Token live_;  // first: released after everything else of the call
  notnets::ServerCall* call_;
  CancelWatcher* watcher_;
  ::grpc::ClientContext context_;
  ByteBuffer request_;
  ByteBuffer response_;
  // Held by the gRPC call until it completed, and by a cancellation being delivered.
  std::atomic<int> refs_{1};
};

// An operation's tag on the bridge's completion queue: its poller calls Done with the result.
class Tag {
 public:
  template <class Owner, void (Owner::*kDone)(bool)>
  static Tag Of(Owner* owner) {
    return Tag(owner, [](void* of, bool ok) { (static_cast<Owner*>(of)->*kDone)(ok); });
  }
  void Done(bool ok) { done_(owner_, ok); }

 private:
  Tag(void* owner, void (*done)(void*, bool)) : owner_(owner), done_(done) {}
  void* owner_;
  void (*done_)(void*, bool);
};

// Whether the call's initial metadata came with its status (no message before it), which gRPC's
// callback API tells its reactors (OnReadInitialMetadataDone(false)) and its completion-queue
// API does not: asked of gRPC as its callback API asks it.
bool TrailersOnly(::grpc::ClientContext* context) {
  static const ::grpc::ClientUnaryReactor kProbe{};
  return kProbe.InternalTrailersOnly(context->c_call());
}

// One pool stream carried through the in-process channel, as a completion-queue call. Not a
// callback call: that asks for the status from its start, and gRPC 1.51's in-process transport
// then lets the server's status overtake a message the server wrote before it that no read has
// taken yet (a sync handler's WriteLast, a completion-queue WriteAndFinish or WriteLast and
// Finish): a client that has half-closed (every server-streaming call has) takes the status,
// lets go of the server's side, and its next read ends without the message, whose write never
// completes, so a sync handler never returns. This call asks for the status (Finish) only once
// its last read ended, so the transport holds the status until the client took every message,
// as HTTP/2 delivers them in order.
//
// Two pumps run, each one operation at a time: client messages from the pool stream into the
// gRPC call ("down"), and server messages from the gRPC call into the pool stream ("up"). The
// pool stream ends once the call's status came and every operation started on the call
// completed (`pending_`), so that no completion reaches this object after. The pool stream owns
// this object and deletes it after its own end.
class BridgedStream final : public StreamReactions {
 public:
  BridgedStream(ServerStream* stream, const MethodBinding& method)
      : stream_(stream), method_(method) {
    ::grpc::CallbackServerContext* context = StreamContext(stream);
    ForwardClientMetadata(context->client_metadata(), &context_);
    AddBridgedCaller(stream->native_context()->peer_identity(), &context_);
    context_.set_deadline(context->deadline());
    if (method.kind == RpcKind::kClientStreaming || method.kind == RpcKind::kBidiStreaming) {
      inbound_.reset(method.request->create());
      down_ = Down::kReading;
    }
    if (method.kind != RpcKind::kClientStreaming) outbound_.reset(method.response->create());
  }

  void Start(::grpc::GenericStub* stub, ::grpc::CompletionQueue* queue, const std::string& path) {
    StreamBind(stream_, this);
    call_ = stub->PrepareCall(&context_, path, queue);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_ = 3;  // the start, the initial metadata and the first read
    }
    call_->StartCall(&started_tag_);
    call_->ReadInitialMetadata(&metadata_tag_);
    call_->Read(&receive_, &read_tag_);
  }

  // Ends the pool stream with `status` instead (the stream then deletes this object).
  void Refuse(::grpc::Status status) {
    StreamBind(stream_, this);
    StreamFinish(stream_, std::move(status));
  }

  // The pool stream's reactions.
  void OnSendInitialMetadataDone(bool) override {}
  void OnReadDone(bool ok) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (down_ != Down::kReading) return;
      down_ = ok ? Down::kWriting : Down::kOver;
      ++pending_;
    }
    if (!ok) {
      // The client half-closed, or the stream ended.
      call_->WritesDone(&writes_done_tag_);
      return;
    }
    send_ = ToBuffer(inbound_->SerializeAsString());
    call_->Write(send_, &written_tag_);
  }
  void OnWriteDone(bool ok) override {
    // The pool client took a server message (or is gone: then the call is cancelled, and the
    // read fails and ends the up pump).
    if (!ok) context_.TryCancel();
    ReadUp();
  }
  void OnCancel() override { context_.TryCancel(); }
  void OnDone() override {}

 private:
  enum class Down { kReading, kWriting, kOver };

  // The completions of the call's operations; each settles its operation when it is over.
  // Writes wait for the start, whose operation gRPC reuses for them.
  void UpStarted(bool ok) {
    bool down;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!ok && down_ == Down::kReading) down_ = Down::kOver;
      down = down_ == Down::kReading;
      if (ok && inbound_ == nullptr) ++pending_;
    }
    if (down) {
      StreamRead(stream_, inbound_.get());
    } else if (ok && inbound_ == nullptr) {
      request_ = ToBuffer(StreamRequest(stream_)->SerializeAsString());
      call_->WriteLast(request_, ::grpc::WriteOptions(), &written_tag_);
    }
    Settle();
  }
  // The server's initial metadata go to the pool stream before its first message: a message
  // read first waits for them.
  void UpMetadata(bool ok) {
    if (ok && !TrailersOnly(&context_)) {
      CopyInitialMetadata();
      StreamSendInitialMetadata(stream_);
    }
    bool read_waiting;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      metadata_done_ = true;
      read_waiting = std::exchange(read_waiting_, false);
    }
    if (read_waiting) UpRead(true);
    Settle();
  }
  void UpRead(bool ok) {
    if (ok) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!metadata_done_) {
        read_waiting_ = true;  // settled when UpMetadata runs it
        return;
      }
    }
    if (!ok) {
      // The server's messages are over: the status is next. A down pump waiting for the pool
      // client stops too: the call's end must not wait for a client that keeps its stream open.
      {
        std::lock_guard<std::mutex> lock(mutex_);
        up_over_ = true;
        if (down_ == Down::kReading) down_ = Down::kOver;
        ++pending_;
      }
      call_->Finish(&status_, &finished_tag_);
    } else if (method_.kind == RpcKind::kClientStreaming) {
      if (!ParseBuffer(receive_, StreamResponse(stream_)).ok()) context_.TryCancel();
      ReadUp();
    } else if (!ParseBuffer(receive_, outbound_.get()).ok()) {
      context_.TryCancel();
      ReadUp();
    } else {
      StreamWrite(stream_, *outbound_);
    }
    Settle();
  }
  void UpWritten(bool ok) {
    if (inbound_ != nullptr) {  // else the server-streaming request: no down pump
      bool stop;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stop = !ok || up_over_;
        down_ = stop ? Down::kOver : Down::kReading;
      }
      if (!stop) StreamRead(stream_, inbound_.get());
    }
    Settle();
  }
  void UpWritesDone(bool) { Settle(); }
  void UpFinished(bool) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      finished_ = true;
    }
    Settle();
  }

  // Starts the up pump's next read.
  void ReadUp() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++pending_;
    }
    call_->Read(&receive_, &read_tag_);
  }
  // One operation is over; the last, once the status came, ends the pool stream.
  void Settle() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ > 0 || !finished_) return;
    }
    ::grpc::CallbackServerContext* context = StreamContext(stream_);
    CopyInitialMetadata();
    for (const auto& [key, value] : Copy(context_.GetServerTrailingMetadata())) {
      context->AddTrailingMetadata(key, value);
    }
    // The last use of this object: the stream may delete it from here on.
    StreamFinish(stream_, status_);
  }
  void CopyInitialMetadata() {
    if (metadata_copied_.exchange(true)) return;
    ::grpc::CallbackServerContext* context = StreamContext(stream_);
    for (const auto& [key, value] : Copy(context_.GetServerInitialMetadata())) {
      context->AddInitialMetadata(key, value);
    }
  }

  ServerStream* stream_;
  const MethodBinding& method_;
  ::grpc::ClientContext context_;
  std::unique_ptr<::grpc::GenericClientAsyncReaderWriter> call_;
  Tag started_tag_ = Tag::Of<BridgedStream, &BridgedStream::UpStarted>(this);
  Tag metadata_tag_ = Tag::Of<BridgedStream, &BridgedStream::UpMetadata>(this);
  Tag read_tag_ = Tag::Of<BridgedStream, &BridgedStream::UpRead>(this);
  Tag written_tag_ = Tag::Of<BridgedStream, &BridgedStream::UpWritten>(this);
  Tag writes_done_tag_ = Tag::Of<BridgedStream, &BridgedStream::UpWritesDone>(this);
  Tag finished_tag_ = Tag::Of<BridgedStream, &BridgedStream::UpFinished>(this);
  std::unique_ptr<MessageLite> inbound_;   // client -> server, read from the pool stream
  std::unique_ptr<MessageLite> outbound_;  // server -> client, written to the pool stream
  ByteBuffer request_;                     // a server-streaming call's one request
  ByteBuffer send_;
  ByteBuffer receive_;
  ::grpc::Status status_;  // the call's, once finished_
  std::atomic<bool> metadata_copied_{false};
  std::mutex mutex_;
  Down down_ = Down::kOver;     // guarded by mutex_ once the call started
  int pending_ = 0;             // guarded by mutex_: operations started and not settled
  bool up_over_ = false;        // guarded by mutex_
  bool finished_ = false;       // guarded by mutex_: the status came
  bool metadata_done_ = false;  // guarded by mutex_: UpMetadata ran
  bool read_waiting_ = false;   // guarded by mutex_: a message read before it
};

}  // namespace

Bridge::Bridge(::grpc::Server* server)
    : server_(server),
      channel_([server] {
        ::grpc::ChannelArguments arguments;
        arguments.SetMaxReceiveMessageSize(-1);
        arguments.SetMaxSendMessageSize(-1);
        return server->InProcessChannel(arguments);
      }()),
      stub_(channel_),
      poller_([this] {
        void* tag;
        bool ok;
        while (queue_.Next(&tag, &ok)) static_cast<Tag*>(tag)->Done(ok);
      }) {}

Bridge::~Bridge() {
  queue_.Shutdown();
  poller_.join();
}

bool Bridge::RunWhileServing(const std::function<void()>& start) {
  return internal::RunWhileServing(
      server_, [this] { return closed_.load(std::memory_order_acquire); }, start);
}

void Bridge::Unary(const std::string& path, std::string_view message, notnets::ServerCall* call,
                   CancelWatcher* watcher, LiveCalls* live) {
  if (!RunWhileServing(
          [&] { (new BridgedUnary(call, message, watcher, live))->Start(&stub_, path); })) {
    call->Finish(NativeStatus(ShuttingDown()));
  }
}

void Bridge::Stream(const std::string& path, const MethodBinding& method, ServerStream* stream) {
  auto* bridged = new BridgedStream(stream, method);
  if (!RunWhileServing([&] { bridged->Start(&stub_, &queue_, path); })) {
    bridged->Refuse(ShuttingDown());
  }
}

}  // namespace notnets::grpc::internal
