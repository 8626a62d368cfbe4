#include "grpc/client_call.h"

#include <grpcpp/client_context.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "grpc/deferrer.h"
#include "grpc/wire.h"
#include "notnets/grpc/channel.h"

namespace notnets::grpc::internal {

namespace {

using ::grpc::experimental::InterceptionHookPoints;
using ::grpc::experimental::InterceptorBatchMethods;

// How long a unary call waits for its answer on the calling thread before the channel's
// completion thread takes over. Long enough for a quick handler; short enough that an
// asynchronous caller (which gRPC's interceptor API cannot tell apart) is barely held.
constexpr std::chrono::microseconds kInlineWait{50};

// Set while this thread runs Intercept: a batch completed here would run a callback-API
// reaction inside the caller's own Start*() call, where it may hold its locks.
thread_local int intercept_depth = 0;

// Set while a completion of a notnets call made here runs (see ~CallState).
thread_local int completion_depth = 0;

struct CompletionScope {
  CompletionScope() { ++completion_depth; }
  ~CompletionScope() { --completion_depth; }
};

bool Has(InterceptorBatchMethods* methods, InterceptionHookPoints point) {
  return methods->QueryInterceptionHookPoint(point);
}

uint64_t NewStreamId() {
  static std::atomic<uint64_t> counter{std::random_device()() | uint64_t{std::random_device()()}
                                                                    << 32};
  // Unguessable enough that one client cannot aim at another's stream; unique per process.
  return counter.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed);
}

// The serialized form of the message a batch sends.
std::string SerializedSendMessage(InterceptorBatchMethods* methods, const MessageType* type) {
  if (const void* message = methods->GetSendMessage(); message != nullptr) {
    return type->view(message)->SerializeAsString();
  }
  std::vector<::grpc::Slice> slices;
  std::string bytes;
  if (methods->GetSerializedSendMessage()->Dump(&slices).ok()) {
    for (const ::grpc::Slice& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  return bytes;
}

// What the server sent back, gathered for the batches that receive it.
struct Answer {
  bool has_initial_metadata = false;
  Metadata initial_metadata;
  bool has_status = false;
  ::grpc::Status status;
  Metadata trailing_metadata;
};

::grpc::Status ToGrpc(const notnets::Status& status, Metadata* trailing) {
  std::string details;
  if (auto it = trailing->find(kStatusDetailsKey); it != trailing->end()) {
    details = it->second;
    trailing->erase(it);
  }
  return ::grpc::Status(static_cast<::grpc::StatusCode>(status.error_code()),
                        status.error_message(), details);
}

// Shared by the interceptor and the completions of its notnets calls, which may outlive it.
class CallState : public std::enable_shared_from_this<CallState> {
 public:
  CallState(::grpc::experimental::ClientRpcInfo* info, const MethodBinding* method,
            std::shared_ptr<notnets::Channel> channel, const std::string* peer,
            ::grpc::Status failure)
      : context_(info->client_context()),
        method_(method),
        channel_(std::move(channel)),
        peer_(peer),
        failure_(std::move(failure)) {}

  // A call released by one of its own completions may be running on its channel's completion
  // thread, which cannot destroy that channel: then the release goes to the deferrer's thread.
  // Elsewhere (the usual case: the caller's thread) it is released here, with no hand-off.
  ~CallState() {
    if (channel_ != nullptr && completion_depth > 0) {
      Deferrer::Get().Run([channel = std::move(channel_)] {});
    }
  }

  void Intercept(InterceptorBatchMethods* methods);
  // The call is destroyed: a stream the server may still hold is closed.
  void Close();

 private:
  enum class Phase { kSend, kReceive, kPost };
  // A batch waiting for notnets calls before it can be filled in and proceed.
  struct Batch {
    InterceptorBatchMethods* methods;
    int pending = 1;  // the setup itself holds one
    bool send_failed = false;
    bool receive_message = false;
    bool message_ok = false;
    std::string message;  // a streamed message read for it
  };

  Phase NextPhase(InterceptorBatchMethods* methods);
  void InterceptNow(InterceptorBatchMethods* methods);
  void Send(InterceptorBatchMethods* methods, bool first);
  void Receive(InterceptorBatchMethods* methods);
  void Cancel();
  void StartUnary();
  void OpenStream(InterceptorBatchMethods* methods);
  // Sends a stream operation; `done` gets its result and the operation's context.
  using OpDone = std::function<void(notnets::CallResult, notnets::ClientContext*)>;
  void SendOp(StreamOp op, std::string_view message, OpDone done);
  void Settle(const std::shared_ptr<Batch>& batch);
  void Fill(Batch* batch);
  void Finish(notnets::CallResult result);
  std::unique_ptr<notnets::ClientContext> OpContext() const;

  ::grpc::ClientContext* context_;
  const MethodBinding* method_;
  std::shared_ptr<notnets::Channel> channel_;
  const std::string* peer_;
  const ::grpc::Status failure_;

  std::mutex mutex_;
  std::unordered_map<InterceptorBatchMethods*, Phase> phases_;
  notnets::ClientContext native_;  // the unary call, or the stream's open call
  std::string request_;            // a unary call's request, serialized
  uint64_t stream_id_ = 0;
  bool started_ = false;
  // A call whose first batch also receives the status is a blocking or completion-queue call:
  // its batches may complete on the calling thread, which saves a thread hand-off.
  bool first_receive_ = true;
  bool complete_inline_ = false;
  bool cancelled_ = false;
  Answer answer_;
  std::string response_;  // a unary or client-streaming call's response, serialized
  bool response_ok_ = false;
  bool metadata_requested_ = false;
  std::vector<std::shared_ptr<Batch>> waiting_metadata_;
  std::vector<std::shared_ptr<Batch>> waiting_status_;
  std::vector<std::shared_ptr<notnets::ClientContext>> op_contexts_;  // to cancel
};

CallState::Phase CallState::NextPhase(InterceptorBatchMethods* methods) {
  std::lock_guard<std::mutex> lock(mutex_);
  Phase& phase = phases_[methods];
  Phase now = phase;
  phase = now == Phase::kSend      ? Phase::kReceive
          : now == Phase::kReceive ? Phase::kPost
                                   : Phase::kSend;
  return now;
}

void CallState::Intercept(InterceptorBatchMethods* methods) {
  ++intercept_depth;
  InterceptNow(methods);
  --intercept_depth;
}

void CallState::InterceptNow(InterceptorBatchMethods* methods) {
  if (Has(methods, InterceptionHookPoints::PRE_SEND_CANCEL)) {
    Cancel();
    methods->Proceed();
    return;
  }
  switch (NextPhase(methods)) {
    case Phase::kSend:
      Send(methods, Has(methods, InterceptionHookPoints::PRE_SEND_INITIAL_METADATA));
      break;
    case Phase::kReceive:
      Receive(methods);
      break;
    case Phase::kPost:
      methods->Proceed();
      break;
  }
}

void CallState::Send(InterceptorBatchMethods* methods, bool first) {
  if (first) {
    for (const auto& [key, value] : *methods->GetSendInitialMetadata()) {
      native_.AddMetadata(key, value);
    }
    if (context_->deadline() != std::chrono::system_clock::time_point::max()) {
      native_.set_deadline(context_->deadline());
    }
    if (method_ == nullptr) {
    } else if (method_->kind == RpcKind::kUnary) {
      request_ = SerializedSendMessage(methods, method_->request);
    } else {
      OpenStream(methods);
    }
    // Runs this interceptor again for the batch's receiving half (Receive), then completes it.
    methods->Hijack();
    return;
  }
  bool write = Has(methods, InterceptionHookPoints::PRE_SEND_MESSAGE);
  bool writes_done = Has(methods, InterceptionHookPoints::PRE_SEND_CLOSE);
  if (method_ == nullptr || method_->kind == RpcKind::kUnary || (!write && !writes_done)) {
    methods->Proceed();
    return;
  }
  // A write completes when the server took the message: that is the flow control.
  auto batch = std::make_shared<Batch>();
  batch->methods = methods;
  auto self = shared_from_this();
  if (write) {
    ++batch->pending;
    SendOp(StreamOp::kWrite, SerializedSendMessage(methods, method_->request),
           [self, batch](notnets::CallResult result, notnets::ClientContext*) {
             if (!result.status.ok()) batch->send_failed = true;
             self->Settle(batch);
           });
  }
  if (writes_done) {
    ++batch->pending;
    SendOp(StreamOp::kWritesDone, {},
           [self, batch](notnets::CallResult, notnets::ClientContext*) { self->Settle(batch); });
  }
  Settle(batch);
}

void CallState::OpenStream(InterceptorBatchMethods* methods) {
  stream_id_ = NewStreamId();
  std::string open(kStreamIdBytes, '\0');
  std::memcpy(open.data(), &stream_id_, sizeof(stream_id_));
  bool server_streaming = method_->kind == RpcKind::kServerStreaming;
  if (server_streaming) open += SerializedSendMessage(methods, method_->request);
  started_ = true;
  auto self = shared_from_this();
  channel_->CallAsync(method_->name, open, &native_, [self](notnets::CallResult result) mutable {
    CompletionScope scope;
    auto state = std::move(self);
    state->Finish(std::move(result));
  });
  // A first message corked with the initial metadata.
  if (!server_streaming && Has(methods, InterceptionHookPoints::PRE_SEND_MESSAGE)) {
    SendOp(StreamOp::kWrite, SerializedSendMessage(methods, method_->request),
           [](notnets::CallResult, notnets::ClientContext*) {});
  }
  if (!server_streaming && Has(methods, InterceptionHookPoints::PRE_SEND_CLOSE)) {
    SendOp(StreamOp::kWritesDone, {}, [](notnets::CallResult, notnets::ClientContext*) {});
  }
}

void CallState::Receive(InterceptorBatchMethods* methods) {
  auto batch = std::make_shared<Batch>();
  batch->methods = methods;
  bool wants_metadata = Has(methods, InterceptionHookPoints::PRE_RECV_INITIAL_METADATA);
  bool wants_message = Has(methods, InterceptionHookPoints::PRE_RECV_MESSAGE);
  bool wants_status = Has(methods, InterceptionHookPoints::PRE_RECV_STATUS);
  batch->receive_message = wants_message;
  if (method_ == nullptr) {
    Settle(batch);
    return;
  }
  bool streamed_message = wants_message && (method_->kind == RpcKind::kServerStreaming ||
                                            method_->kind == RpcKind::kBidiStreaming);
  bool start_unary = false;
  bool request_metadata = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (first_receive_) {
      first_receive_ = false;
      complete_inline_ = wants_status;
    }
    if (method_->kind == RpcKind::kUnary && !started_) start_unary = started_ = true;
    if (wants_metadata && !answer_.has_initial_metadata) {
      ++batch->pending;
      waiting_metadata_.push_back(batch);
      request_metadata = method_->kind != RpcKind::kUnary && !metadata_requested_;
      metadata_requested_ = metadata_requested_ || request_metadata;
    }
    if ((wants_status || (wants_message && !streamed_message)) && !answer_.has_status) {
      ++batch->pending;
      waiting_status_.push_back(batch);
    }
  }
  auto self = shared_from_this();
  if (request_metadata) {
    SendOp(StreamOp::kInitialMetadata, {}, [self](notnets::CallResult, notnets::ClientContext* op) {
      std::vector<std::shared_ptr<Batch>> waiting;
      {
        std::lock_guard<std::mutex> lock(self->mutex_);
        if (!self->answer_.has_initial_metadata) {
          self->answer_.has_initial_metadata = true;
          self->answer_.initial_metadata = op->GetServerInitialMetadata();
        }
        waiting.swap(self->waiting_metadata_);
      }
      for (const auto& batch : waiting) self->Settle(batch);
    });
  }
  if (streamed_message) {
    ++batch->pending;
    SendOp(StreamOp::kRead, {}, [self, batch](notnets::CallResult result, notnets::ClientContext*) {
      batch->message_ok = result.status.ok();
      if (batch->message_ok) batch->message.assign(result.response.view());
      self->Settle(batch);
    });
  }
  if (start_unary) StartUnary();
  Settle(batch);
}

void CallState::StartUnary() {
  auto self = shared_from_this();
  channel_->CallAsync(
      method_->name, std::string_view(request_), &native_,
      [self](notnets::CallResult result) mutable {
        CompletionScope scope;
        auto state = std::move(self);
        state->Finish(std::move(result));
      },
      complete_inline_ ? kInlineWait : std::chrono::nanoseconds(0));
}

void CallState::SendOp(StreamOp op, std::string_view message, OpDone done) {
  std::shared_ptr<notnets::ClientContext> context = OpContext();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cancelled_) context->TryCancel();
    op_contexts_.push_back(context);
  }
  std::string request(kStreamOpHeaderBytes + message.size(), '\0');
  EncodeStreamOp(op, stream_id_, reinterpret_cast<uint8_t*>(request.data()));
  // An empty view's data() may be null, which memcpy must not be given even for zero bytes.
  if (!message.empty()) {
    std::memcpy(request.data() + kStreamOpHeaderBytes, message.data(), message.size());
  }
  auto self = shared_from_this();
  channel_->CallAsync(kStreamMethod, request, context.get(),
                      [self, context, done = std::move(done)](notnets::CallResult result) mutable {
                        CompletionScope scope;
                        // Released inside the scope: `done` may hold the call's last reference.
                        auto state = std::move(self);
                        auto callback = std::move(done);
                        {
                          std::lock_guard<std::mutex> lock(state->mutex_);
                          std::erase(state->op_contexts_, context);
                        }
                        callback(std::move(result), context.get());
                      });
}

std::unique_ptr<notnets::ClientContext> CallState::OpContext() const {
  auto context = std::make_unique<notnets::ClientContext>();
  context->set_deadline(native_.deadline());
  return context;
}

void CallState::Finish(notnets::CallResult result) {
  std::vector<std::shared_ptr<Batch>> waiting;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!answer_.has_initial_metadata) {
      answer_.has_initial_metadata = true;
      answer_.initial_metadata = native_.GetServerInitialMetadata();
    }
    answer_.trailing_metadata = native_.GetServerTrailingMetadata();
    answer_.status = ToGrpc(result.status, &answer_.trailing_metadata);
    answer_.has_status = true;
    response_ok_ = result.status.ok();
    if (response_ok_) response_.assign(result.response.view());
    waiting.swap(waiting_status_);
    for (auto& batch : waiting_metadata_) waiting.push_back(batch);
    waiting_metadata_.clear();
  }
  for (const auto& batch : waiting) Settle(batch);
}

void CallState::Settle(const std::shared_ptr<Batch>& batch) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--batch->pending > 0) return;
  }
  if (intercept_depth > 0 && !complete_inline_) {
    Deferrer::Get().Run([self = shared_from_this(), batch] {
      self->Fill(batch.get());
      batch->methods->Proceed();
    });
    return;
  }
  Fill(batch.get());
  batch->methods->Proceed();
}

void CallState::Fill(Batch* batch) {
  InterceptorBatchMethods* methods = batch->methods;
  if (batch->send_failed) methods->FailHijackedSendMessage();
  std::lock_guard<std::mutex> lock(mutex_);
  if (method_ == nullptr) {
    if (Has(methods, InterceptionHookPoints::PRE_RECV_MESSAGE)) {
      methods->FailHijackedRecvMessage();
    }
    if (Has(methods, InterceptionHookPoints::PRE_RECV_STATUS)) *methods->GetRecvStatus() = failure_;
    return;
  }
  if (Has(methods, InterceptionHookPoints::PRE_RECV_INITIAL_METADATA)) {
    auto* map = methods->GetRecvInitialMetadata();
    for (const auto& [key, value] : answer_.initial_metadata) {
      map->emplace(::grpc::string_ref(key.data(), key.size()),
                   ::grpc::string_ref(value.data(), value.size()));
    }
    map->emplace(kPoolPeerKey, ::grpc::string_ref(peer_->data(), peer_->size()));
  }
  if (batch->receive_message) {
    bool streamed =
        method_->kind == RpcKind::kServerStreaming || method_->kind == RpcKind::kBidiStreaming;
    bool ok = streamed ? batch->message_ok : response_ok_;
    const std::string& bytes = streamed ? batch->message : response_;
    MessageLite* message = method_->response->view_mutable(methods->GetRecvMessage());
    if (!ok || !message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      methods->FailHijackedRecvMessage();
    }
  }
  if (Has(methods, InterceptionHookPoints::PRE_RECV_STATUS)) {
    *methods->GetRecvStatus() = answer_.status;
    auto* map = methods->GetRecvTrailingMetadata();
    for (const auto& [key, value] : answer_.trailing_metadata) {
      map->emplace(::grpc::string_ref(key.data(), key.size()),
                   ::grpc::string_ref(value.data(), value.size()));
    }
  }
}

void CallState::Cancel() {
  std::lock_guard<std::mutex> lock(mutex_);
  cancelled_ = true;
  native_.TryCancel();
  for (const auto& context : op_contexts_) context->TryCancel();
}

void CallState::Close() {
  if (stream_id_ == 0) return;
  SendOp(StreamOp::kClose, {}, [](notnets::CallResult, notnets::ClientContext*) {});
}

class PoolCall final : public ::grpc::experimental::Interceptor {
 public:
  explicit PoolCall(std::shared_ptr<CallState> state) : state_(std::move(state)) {}
  ~PoolCall() override { state_->Close(); }
  void Intercept(InterceptorBatchMethods* methods) override { state_->Intercept(methods); }

 private:
  std::shared_ptr<CallState> state_;
};

}  // namespace

::grpc::experimental::Interceptor* NewPoolCall(::grpc::experimental::ClientRpcInfo* info,
                                               const MethodBinding* method,
                                               std::shared_ptr<notnets::Channel> channel,
                                               const std::string* peer, ::grpc::Status failure) {
  return new PoolCall(
      std::make_shared<CallState>(info, method, std::move(channel), peer, std::move(failure)));
}

}  // namespace notnets::grpc::internal
