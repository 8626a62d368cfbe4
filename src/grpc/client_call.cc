#include "grpc/client_call.h"

#include <grpcpp/client_context.h>
#include <grpcpp/support/byte_buffer.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <vector>

#include "grpc/callback_reactions.h"
#include "grpc/child_calls.h"
#include "grpc/deferrer.h"
#include "grpc/message_io.h"
#include "grpc/server_context_access.h"
#include "grpc/wire.h"
#include "notnets/grpc/channel.h"
#include "notnets/limits.h"
#include "rpc/channel_access.h"

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

// One CPU hint that a spin loop waits (the channel layer's CpuRelax, which this layer does not
// see).
inline void Pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

bool Has(InterceptorBatchMethods* methods, InterceptionHookPoints point) {
  return methods->QueryInterceptionHookPoint(point);
}

uint64_t NewStreamId() {
  static std::atomic<uint64_t> counter{std::random_device()() | uint64_t{std::random_device()()}
                                                                    << 32};
  // Unguessable enough that one client cannot aim at another's stream; unique per process.
  return counter.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed);
}

// A request on its way into the pool: an optional header (a stream operation's) and the message
// a batch sends, serialized straight into a pool buffer; requests that fit a call's descriptor
// are built on the stack instead and travel inside it.
class OutgoingRequest {
 public:
  // Lays out `header_bytes` bytes for header() followed by the serialized send message of
  // `methods` (none if `methods` is null). A message over `limits` is not sent: gRPC's status
  // for it is `*over_limit`, which it leaves alone otherwise.
  notnets::Status Build(notnets::Channel* channel, size_t header_bytes,
                        InterceptorBatchMethods* methods, const MessageType* type,
                        const MessageLimits& limits, ::grpc::Status* over_limit) {
    const MessageLite* message = nullptr;
    std::string serialized;  // a message the caller gave already serialized
    size_t message_bytes = 0;
    if (methods != nullptr) {
      message = SendMessage(methods, type, &serialized);
      message_bytes = message != nullptr ? message->ByteSizeLong() : serialized.size();
    }
    if (MessageLimits::Over(message_bytes, limits.max_send)) {
      *over_limit = limits.SendFailure(message_bytes);
      return notnets::Status(static_cast<notnets::StatusCode>(over_limit->error_code()),
                             over_limit->error_message());
    }
    if (message_bytes > static_cast<size_t>(INT32_MAX)) {
      return notnets::Status(notnets::StatusCode::RESOURCE_EXHAUSTED,
                             "a request over 2 GiB cannot be sent");
    }
    size_ = header_bytes + message_bytes;
    uint8_t* out = small_;
    if (size_ > sizeof(small_)) {
      notnets::Status status = channel->AllocateMessage(size_, &buffer_);
      if (!status.ok()) return status;
      buffer_.set_size(size_);
      out = buffer_.data();
    }
    if (message != nullptr) {
      message->SerializeWithCachedSizesToArray(out + header_bytes);
    } else if (!serialized.empty()) {
      std::memcpy(out + header_bytes, serialized.data(), serialized.size());
    }
    return notnets::Status::OK;
  }

  uint8_t* header() { return buffer_.valid() ? buffer_.data() : small_; }

  // Sends the request as Channel::CallAsync does.
  void Send(notnets::Channel* channel, std::string_view method, notnets::ClientContext* context,
            notnets::CallCallback done,
            std::chrono::nanoseconds inline_wait = std::chrono::nanoseconds(0)) {
    if (buffer_.valid()) {
      notnets::internal::ChannelAccess::CallAsync(channel, method, std::move(buffer_), context,
                                                  std::move(done), inline_wait);
    } else {
      notnets::internal::ChannelAccess::CallAsync(
          channel, method, std::string_view(reinterpret_cast<const char*>(small_), size_), context,
          std::move(done), inline_wait);
    }
  }

 private:
  static const MessageLite* SendMessage(InterceptorBatchMethods* methods, const MessageType* type,
                                        std::string* serialized) {
    // A message whose type the call does not know (a generic stub's) is taken serialized.
    if (const void* message = methods->GetSendMessage(); message != nullptr && type != nullptr) {
      return type->view(message);
    }
    std::vector<::grpc::Slice> slices;
    if (methods->GetSerializedSendMessage()->Dump(&slices).ok()) {
      for (const ::grpc::Slice& slice : slices) {
        serialized->append(reinterpret_cast<const char*>(slice.begin()), slice.size());
      }
    }
    return nullptr;
  }

  // A request this small travels inside the call's descriptor.
  uint8_t small_[notnets::kInlineMessageBytes];
  size_t size_ = 0;
  notnets::MessageBuffer buffer_;
};

// True if `answer`, the server's answer to a stream read, is whole messages framed as wire.h
// says, at least one: read once from the pool and checked before any read takes from it.
bool IsReadAnswer(std::string_view answer) {
  if (answer.empty()) return false;
  std::string_view message;
  while (TakeReadMessage(&answer, &message)) {
  }
  return answer.empty();
}

// What the server sent back, gathered for the batches that receive it.
struct Answer {
  bool has_initial_metadata = false;
  Metadata initial_metadata;
  bool has_status = false;
  ::grpc::Status status;
  Metadata trailing_metadata;
};

// The status message of a call the client cancelled, or whose deadline passed, in gRPC's own
// words, which programs compare. notnets' words follow only where they tell more than that: a
// deadline that passed while the call waited for the pool's resources ("deadline passed while
// waiting for a free call slot of the channel to ...").
std::string PathMessage(const notnets::Status& status, bool cancelled, bool deadline_passed) {
  if (cancelled) return "CANCELLED";
  if (status.error_code() != notnets::StatusCode::DEADLINE_EXCEEDED || !deadline_passed) {
    return status.error_message();
  }
  if (status.error_message().starts_with("deadline passed while waiting for")) {
    return "Deadline Exceeded (notnets: " + status.error_message() + ")";
  }
  return "Deadline Exceeded";
}

// `cancelled`: the client cancelled the call before its answer came, which gRPC reports as
// CANCELLED whatever the server answered.
::grpc::Status ToGrpc(const notnets::Status& status, bool cancelled, bool deadline_passed,
                      Metadata* trailing) {
  std::string details;
  if (auto it = trailing->find(kStatusDetailsKey); it != trailing->end()) {
    details = it->second;
    trailing->erase(it);
  }
  auto code = cancelled ? ::grpc::StatusCode::CANCELLED
                        : static_cast<::grpc::StatusCode>(status.error_code());
  if (auto it = trailing->find(kStatusCodeKey); it != trailing->end()) {
    // Only beside UNKNOWN, and only a number past notnets' codes, as the server writes it, that
    // grpc::StatusCode can hold (its enumerators span -1 to 16, so its values -32 to 31).
    constexpr int kLargestCode = 31;
    int carried = 0;
    const std::string& text = it->second;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), carried);
    if (code == ::grpc::StatusCode::UNKNOWN && error == std::errc() &&
        end == text.data() + text.size() &&
        carried > static_cast<int>(::grpc::StatusCode::UNAUTHENTICATED) &&
        carried <= kLargestCode) {
      code = static_cast<::grpc::StatusCode>(carried);
    }
    trailing->erase(it);
  }
  return ::grpc::Status(code, PathMessage(status, cancelled, deadline_passed), details);
}

// Shared by the interceptor and the completions of its notnets calls, which may outlive it.
class CallState final : public ChildCall, public std::enable_shared_from_this<CallState> {
 public:
  CallState(::grpc::experimental::ClientRpcInfo* info, const MethodBinding* method,
            std::string path, std::shared_ptr<notnets::Channel> channel, const std::string* peer,
            const StandInCall* stand_in, ServerAuthContexts* server_auth,
            const MessageLimits* limits, ::grpc::Status failure)
      : context_(info->client_context()),
        grpc_channel_(info->channel()),
        method_(method),
        path_(std::move(path)),
        channel_(std::move(channel)),
        peer_(peer),
        stand_in_(stand_in),
        server_auth_(server_auth),
        limits_(limits),
        failure_(std::move(failure)) {}

  // A call released by one of its own completions may be running on its channel's completion
  // thread, which cannot destroy that channel: then the release goes to another thread, the
  // reactions thread for a callback call (awake then: it has just been handed the reaction),
  // else the deferrer's. Elsewhere (the usual case: the caller's thread) it is released here,
  // with no hand-off.
  ~CallState() {
    // The context is gone (its interceptors, which hold this, go with it): so is every use
    // gRPC makes of the core call it had.
    if (taken_call_ != nullptr) grpc_call_unref(taken_call_);
    if (channel_ == nullptr || completion_depth == 0) return;
    if (callback_queue_ != nullptr) {
      CallbackReactions::Defer([channel = std::move(channel_)] {});
    } else {
      Deferrer::Get().Run([channel = std::move(channel_)] {});
    }
  }

  void Intercept(InterceptorBatchMethods* methods);
  // The call is destroyed, with its context: a stream the server may still hold is closed, and
  // nothing touches the context any more.
  void Close();

 private:
  enum class Phase { kSend, kReceive, kPost };
  // Where each batch in flight is: gRPC runs this interceptor up to three times per batch.
  struct BatchPhase {
    InterceptorBatchMethods* methods;
    Phase phase;
  };
  // A batch waiting for notnets calls before it can be filled in and proceed. Each pending unit
  // is one later Settle(); the last one completes the batch and deletes it.
  struct Batch {
    explicit Batch(InterceptorBatchMethods* batch_methods) : methods(batch_methods) {}
    InterceptorBatchMethods* methods;
    int pending = 1;  // the setup itself holds one
    bool send_failed = false;
    bool receive_message = false;
    bool message_ok = false;
    // A streamed message read for it: `bytes`, in the read answer `answer` holds.
    std::shared_ptr<const notnets::ReceivedMessage> answer;
    std::string_view bytes;
    Batch* next_waiting_metadata = nullptr;
    Batch* next_waiting_status = nullptr;
  };
  // Batches waiting for the same answer, oldest first, linked through `Batch::*next`.
  template <Batch* Batch::*next>
  class BatchQueue {
   public:
    void Push(Batch* batch) {
      *tail_ = batch;
      tail_ = &(batch->*next);
    }
    // Empties the queue; returns its first batch.
    Batch* Take() {
      Batch* head = head_;
      head_ = nullptr;
      tail_ = &head_;
      return head;
    }

   private:
    Batch* head_ = nullptr;
    Batch** tail_ = &head_;
  };

  Phase NextPhase(InterceptorBatchMethods* methods);
  // Whether `methods` is the call's first batch, which starts it. Not told by its
  // PRE_SEND_INITIAL_METADATA: a batch gRPC reuses (a completion-queue stream's start, writes and
  // half-close; a callback stream's writes after a corked start) keeps reporting it after a
  // hijacking interceptor, because gRPC 1.51 clears the op's "send" flag only when core ran it.
  bool TakeFirstBatch(InterceptorBatchMethods* methods);
  void InterceptNow(InterceptorBatchMethods* methods);
  void Send(InterceptorBatchMethods* methods, bool first);
  void Receive(InterceptorBatchMethods* methods);
  void Cancel();
  // A parent call's cancellation (child_calls.h) cancels the call as its client would.
  void CancelByParent() override { Cancel(); }
  void StartUnary();
  void OpenStream(InterceptorBatchMethods* methods);
  // Under `mutex_`: gives `batch` the next message of the read answers the call holds, if it
  // has one left; true if it did. A message over the receive limit fails the read: `*over_limit`
  // is then its size, for FailStream. `*read_next` is set when the caller must send the read
  // that fetches the next answer ahead (SendReadAhead).
  bool TakeReadAheadLocked(Batch* batch, size_t* over_limit, bool* read_next);
  // Converts a read's result into the call's next answer (or failed reads); false if the answer
  // was malformed.
  bool KeepReadAnswerLocked(notnets::CallResult result);
  // The read answer `result` of `batch` came: it takes the first message, the call keeps the rest.
  void ReadAnswered(Batch* batch, notnets::CallResult result);
  // Asks the server for the answer after the one the reads are taking from, without waiting.
  void SendReadAhead();
  // The answer to SendReadAhead came: it goes to a read waiting for it, or is kept for the next.
  void ReadAheadAnswered(notnets::CallResult result);
  // Waits a little on a blocking reader's thread for the answer to SendReadAhead, reading it
  // itself, unless more than `answers_seen` answers already came.
  void AwaitReadAhead(uint64_t answers_seen);
  // What follows a read answer's arrival outside the lock: a failure it makes the stream's, the
  // next read ahead, and `batch` (if any) going on.
  void Conclude(Batch* batch, bool well_formed, size_t over_limit, bool read_next);
  // Sends a stream operation carrying the send message of `methods` (if not null); `done` gets
  // its result and the operation's context. A blocking caller's operation waits for its answer
  // a little on the calling thread unless `may_wait` is false.
  using OpDone = std::function<void(notnets::CallResult, notnets::ClientContext*)>;
  void SendOp(StreamOp op, InterceptorBatchMethods* methods, OpDone done, bool may_wait = true);
  // The first message, sent with the call's first batch, did not reach the server.
  void FailCorkedWrite(const notnets::Status& status);
  // The corked first write was taken (or failed): sends what later batches held back.
  void CorkedWriteDone();
  // A stream message broke a message size limit, or the server's answer to a read was malformed:
  // the call ends with `status`, as in gRPC.
  void FailStream(::grpc::Status status);
  void SettleAll(Batch* metadata, Batch* status);
  void Settle(Batch* batch);
  // Fills in what `batch` receives and lets it proceed; deletes it.
  void Complete(Batch* batch, grpc_completion_queue* callback_queue);
  void Fill(Batch* batch);
  void Finish(notnets::CallResult result);
  // Under `mutex_`: gives the context the AuthContext of the server that answered `answered`
  // (a context of this call's), once: a call reaches one server.
  void LearnServerLocked(const notnets::ClientContext& answered);
  std::unique_ptr<notnets::ClientContext> OpContext() const;

  // Bytes a unary request or stream open starts with: the path of a call by full method name.
  size_t PathHeaderBytes() const { return path_.empty() ? 0 : kPathLengthBytes + path_.size(); }

  ::grpc::ClientContext* context_;
  ::grpc::ChannelInterface* grpc_channel_;
  const MethodBinding* method_;  // its message types are null for a generic stub's call
  // Empty: the call goes to the method's name in its service. Otherwise the call's full method
  // name, which it is carried by on the pool service kGenericService (wire.h).
  const std::string path_;
  std::shared_ptr<notnets::Channel> channel_;
  const std::string* peer_;
  const StandInCall* stand_in_;      // the route's, which outlives its calls
  ServerAuthContexts* server_auth_;  // the route's, which outlives its calls
  // The context's own core call, taken when the stand-in was lent to it.
  grpc_call* taken_call_ = nullptr;
  const MessageLimits* limits_;  // the channel's, which outlives its calls
  const ::grpc::Status failure_;

  std::mutex mutex_;
  std::vector<BatchPhase> phases_;
  notnets::ClientContext native_;  // the unary call, or the stream's open call
  OutgoingRequest request_;        // a unary call's request
  notnets::Status request_status_;
  uint64_t stream_id_ = 0;
  bool hijacked_ = false;  // the first batch came and took the call off gRPC core
  bool started_ = false;
  // A call that is not a callback one (callback_queue_) and whose first batch also receives the
  // status is a blocking or completion-queue call, and so is a stream whose first batch receives
  // nothing: its batches may complete on the calling thread, which saves a thread hand-off.
  bool first_receive_ = true;
  bool complete_inline_ = false;
  // A unary call whose first batch receives the status waits a little for its answer on the
  // calling thread (kInlineWait), even a callback one: its completion then leaves at once.
  bool wait_inline_ = false;
  // The queue a callback-API call completes on (CallbackReactions::QueueOf), whose reactions run
  // on the reactions thread rather than gRPC's; null for other calls. Set by the first batch.
  grpc_completion_queue* callback_queue_ = nullptr;
  bool cancelled_ = false;
  bool server_learned_ = false;  // the context has its server's AuthContext
  bool context_gone_ = false;    // Close() ran: the context is being destroyed
  notnets::Status corked_write_failure_;
  // A first message corked with the initial metadata completes its batch before the server took
  // it: the writes and half-close of later batches wait for it here, or the server could take
  // them first (a half-close first would end the stream without the message).
  bool corked_write_in_flight_ = false;
  std::vector<std::function<void()>> after_corked_write_;
  ::grpc::Status over_limit_;  // the status of the first FailStream
  // The server's initial metadata was over the channel's limit: no message of the stream is read.
  bool metadata_refused_ = false;
  Answer answer_;
  // A unary or client-streaming call's response, read in place in the pool.
  notnets::ReceivedMessage response_;
  bool response_ok_ = false;
  bool metadata_requested_ = false;
  // The read answer (wire.h) the reads take from, while it has messages no read took yet:
  // `read_ahead_`, in `read_ahead_answer_`'s buffer.
  std::shared_ptr<const notnets::ReceivedMessage> read_ahead_answer_;
  std::string_view read_ahead_;
  // Reading ahead: an answer that carried more than one message shows a server writing faster
  // than this reader reads, so the next answer is asked for as soon as the reads start on it,
  // and travels while they take its messages (one round trip per answer would otherwise stall
  // the reader each time). Never more than one read is outstanding and one answer kept besides
  // the one being read, so a slow reader holds at most two answers (wire.h bounds each).
  bool reading_ahead_ = false;                                   // SendReadAhead is outstanding
  Batch* waiting_read_ahead_ = nullptr;                          // a read waiting for its answer
  std::shared_ptr<const notnets::ReceivedMessage> next_answer_;  // no read took from it yet
  // A read failed (the stream ended, was cancelled, or the server is gone): the reads after the
  // messages already received fail as that one did.
  bool reads_failed_ = false;
  std::atomic<uint64_t> read_ahead_answers_{0};  // answers to SendReadAhead so far
  BatchQueue<&Batch::next_waiting_metadata> waiting_metadata_;
  BatchQueue<&Batch::next_waiting_status> waiting_status_;
  std::vector<std::shared_ptr<notnets::ClientContext>> op_contexts_;  // to cancel
};

bool CallState::TakeFirstBatch(InterceptorBatchMethods* methods) {
  std::lock_guard<std::mutex> lock(mutex_);
  bool first = !hijacked_;
  if (first) callback_queue_ = CallbackReactions::QueueOf(methods, grpc_channel_);
  hijacked_ = true;
  return first;
}

CallState::Phase CallState::NextPhase(InterceptorBatchMethods* methods) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = std::find_if(phases_.begin(), phases_.end(),
                         [methods](const BatchPhase& entry) { return entry.methods == methods; });
  if (it == phases_.end()) {
    phases_.push_back({methods, Phase::kReceive});
    return Phase::kSend;
  }
  Phase now = it->phase;
  if (now == Phase::kReceive) {
    it->phase = Phase::kPost;
  } else {
    // The batch is done with; gRPC may reuse its operations for the next one.
    phases_.erase(it);
  }
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
      Send(methods, TakeFirstBatch(methods));
      break;
    case Phase::kReceive:
      Receive(methods);
      break;
    case Phase::kPost:
      // Where the interceptors before this one are done with a callback call's batch, gRPC
      // completes it once more, for the reaction.
      CallbackReactions::Proceed(methods, callback_queue_);
      break;
  }
}

void CallState::Send(InterceptorBatchMethods* methods, bool first) {
  if (first) {
    // A corked call's first batch does not send the metadata, which its first write will: they
    // are already in the context, and the stream opens with them now.
    const std::multimap<std::string, std::string>& metadata =
        Has(methods, InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)
            ? *methods->GetSendInitialMetadata()
            : SendInitialMetadata(*context_);
    for (const auto& [key, value] : metadata) {
      // gRPC's own keys for its filters (the compression request, for one) never reach a
      // server over HTTP/2.
      if (!std::string_view(key).starts_with("grpc-internal-")) native_.AddMetadata(key, value);
    }
    if (context_->deadline() != std::chrono::system_clock::time_point::max()) {
      native_.set_deadline(context_->deadline());
    }
    if (stand_in_ != nullptr) taken_call_ = stand_in_->LendTo(context_);
    if (method_ == nullptr) {
    } else if (method_->kind == RpcKind::kUnary) {
      ::grpc::Status over_limit;
      request_status_ = request_.Build(channel_.get(), PathHeaderBytes(), methods, method_->request,
                                       *limits_, &over_limit);
      if (request_status_.ok() && !path_.empty()) EncodePath(path_, request_.header());
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
  auto* batch = new Batch(methods);
  auto self = shared_from_this();
  // Every operation is counted before the first is sent: its completion may run at once on
  // another thread.
  batch->pending += int{write} + int{writes_done};
  std::function<void()> send = [self, methods, batch, write, writes_done] {
    auto close = [self, batch] {
      self->SendOp(
          StreamOp::kWritesDone, nullptr,
          [self, batch](notnets::CallResult, notnets::ClientContext*) { self->Settle(batch); });
    };
    if (write) {
      // A half-close in the same batch goes once the server took the message: a server with
      // several workers could otherwise handle it first, and refuse the write that came after.
      self->SendOp(
          StreamOp::kWrite, methods,
          [self, batch, writes_done, close](notnets::CallResult result, notnets::ClientContext*) {
            if (!result.status.ok()) batch->send_failed = true;
            if (IsServerLimit(result.status)) {
              self->FailStream(::grpc::Status(::grpc::StatusCode::RESOURCE_EXHAUSTED,
                                              result.status.error_message()));
            }
            if (writes_done) close();
            self->Settle(batch);
          });
    } else if (writes_done) {
      close();
    }
  };
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (corked_write_in_flight_) {
      after_corked_write_.push_back(std::move(send));
      send = nullptr;
    }
  }
  if (send) send();
  Settle(batch);
}

void CallState::CorkedWriteDone() {
  std::vector<std::function<void()>> sends;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    corked_write_in_flight_ = false;
    sends.swap(after_corked_write_);
  }
  for (const auto& send : sends) send();
}

void CallState::OpenStream(InterceptorBatchMethods* methods) {
  stream_id_ = NewStreamId();
  bool server_streaming = method_->kind == RpcKind::kServerStreaming;
  OutgoingRequest open;
  ::grpc::Status over_limit;
  size_t header_bytes = kStreamIdBytes + (path_.empty() ? 0 : 1 + PathHeaderBytes());
  notnets::Status built =
      open.Build(channel_.get(), header_bytes, server_streaming ? methods : nullptr,
                 method_->request, *limits_, &over_limit);
  started_ = true;
  auto self = shared_from_this();
  auto done = [self](notnets::CallResult result) mutable {
    CompletionScope scope;
    auto state = std::move(self);
    state->Finish(std::move(result));
  };
  if (!built.ok()) {
    done(notnets::CallResult{built, {}});
    return;
  }
  std::memcpy(open.header(), &stream_id_, sizeof(stream_id_));
  if (!path_.empty()) {
    open.header()[kStreamIdBytes] = static_cast<uint8_t>(method_->kind);
    EncodePath(path_, open.header() + kStreamIdBytes + 1);
  }
  open.Send(channel_.get(), path_.empty() ? std::string_view(method_->name) : kGenericOpenMethod,
            &native_, notnets::CallCallback(std::move(done)));
  // A first message corked with the initial metadata. Its batch completes at once (it must be
  // hijacked before this returns), so a failure to deliver it fails the call instead.
  // A half-close with it goes once the server took the message, as in Send.
  bool writes_done = !server_streaming && Has(methods, InterceptionHookPoints::PRE_SEND_CLOSE);
  auto close = [self] {
    self->SendOp(StreamOp::kWritesDone, nullptr,
                 [](notnets::CallResult, notnets::ClientContext*) {});
  };
  if (!server_streaming && Has(methods, InterceptionHookPoints::PRE_SEND_MESSAGE)) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      corked_write_in_flight_ = true;
    }
    SendOp(StreamOp::kWrite, methods,
           [self, writes_done, close](notnets::CallResult result, notnets::ClientContext*) {
             if (IsServerLimit(result.status)) {
               self->FailStream(::grpc::Status(::grpc::StatusCode::RESOURCE_EXHAUSTED,
                                               result.status.error_message()));
             }
             if (!result.status.ok()) self->FailCorkedWrite(result.status);
             if (writes_done) close();
             self->CorkedWriteDone();
           });
  } else if (writes_done) {
    close();
  }
}

void CallState::Receive(InterceptorBatchMethods* methods) {
  auto* batch = new Batch(methods);
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
  bool read = false;
  bool read_next = false;
  bool await_read_ahead = false;
  uint64_t answers_seen = 0;
  size_t over_limit = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (first_receive_) {
      first_receive_ = false;
      wait_inline_ = wants_status;
      complete_inline_ =
          callback_queue_ == nullptr &&
          (wants_status || (method_->kind != RpcKind::kUnary && !wants_metadata && !wants_message));
    }
    if (method_->kind == RpcKind::kUnary && !started_) start_unary = started_ = true;
    if (wants_metadata && !answer_.has_initial_metadata) {
      ++batch->pending;
      waiting_metadata_.Push(batch);
      request_metadata = method_->kind != RpcKind::kUnary && !metadata_requested_;
      metadata_requested_ = metadata_requested_ || request_metadata;
    }
    if ((wants_status || (wants_message && !streamed_message)) && !answer_.has_status) {
      ++batch->pending;
      waiting_status_.Push(batch);
    }
    // Counted before any operation is sent: the metadata's may complete at once elsewhere.
    // A read once the stream failed fails now, as the server's answer to it would.
    if (streamed_message && !TakeReadAheadLocked(batch, &over_limit, &read_next) &&
        over_limit == 0 && !cancelled_ && over_limit_.ok() && !reads_failed_) {
      ++batch->pending;
      if (reading_ahead_) {
        waiting_read_ahead_ = batch;
        await_read_ahead = complete_inline_;
        answers_seen = read_ahead_answers_.load(std::memory_order_relaxed);
      } else {
        read = true;
      }
    }
  }
  auto self = shared_from_this();
  if (over_limit != 0) FailStream(limits_->ReceiveFailure(over_limit));
  if (request_metadata) {
    SendOp(StreamOp::kInitialMetadata, nullptr,
           [self](notnets::CallResult, notnets::ClientContext* op) {
             Batch* waiting;
             ::grpc::Status refused;
             {
               std::lock_guard<std::mutex> lock(self->mutex_);
               if (!self->answer_.has_initial_metadata) {
                 self->answer_.has_initial_metadata = true;
                 self->answer_.initial_metadata = op->GetServerInitialMetadata();
                 // Over the channel's limit: the stream fails, as gRPC's transport fails it.
                 refused = self->limits_->InitialMetadataFailure(self->answer_.initial_metadata);
                 if (!refused.ok()) {
                   self->answer_.initial_metadata.clear();
                   self->metadata_refused_ = true;
                 }
                 self->LearnServerLocked(*op);
               }
               waiting = self->waiting_metadata_.Take();
             }
             if (!refused.ok()) self->FailStream(std::move(refused));
             self->SettleAll(waiting, nullptr);
           });
  }
  if (read) {
    SendOp(StreamOp::kRead, nullptr,
           [self, batch](notnets::CallResult result, notnets::ClientContext*) {
             self->ReadAnswered(batch, std::move(result));
           });
  }
  if (read_next) SendReadAhead();
  if (await_read_ahead) AwaitReadAhead(answers_seen);
  if (start_unary) StartUnary();
  Settle(batch);
}

void CallState::AwaitReadAhead(uint64_t answers_seen) {
  // The completion thread shares the reader's CPU when the process is pinned, and a reader that
  // keeps it busy would leave the answer unread until it blocked: it takes the answer itself.
  auto until = std::chrono::steady_clock::now() + kInlineWait;
  for (uint32_t round = 1; read_ahead_answers_.load(std::memory_order_acquire) == answers_seen;
       ++round) {
    if (notnets::internal::ChannelAccess::Poll(channel_.get())) continue;
    if (round % 64 == 0 && std::chrono::steady_clock::now() >= until) return;
    Pause();
  }
}

bool CallState::TakeReadAheadLocked(Batch* batch, size_t* over_limit, bool* read_next) {
  // Once the call is cancelled or broke a limit, reads fail as the server's answer to them would.
  if (cancelled_ || !over_limit_.ok()) return false;
  bool new_answer = read_ahead_.empty();
  if (new_answer) {
    if (next_answer_ == nullptr) return false;
    read_ahead_answer_ = std::move(next_answer_);
    read_ahead_ = read_ahead_answer_->view();
  }
  std::string_view message;
  TakeReadMessage(&read_ahead_, &message);  // KeepReadAnswerLocked checked the answer's framing
  batch->answer = read_ahead_answer_;
  if (read_ahead_.empty()) read_ahead_answer_.reset();
  if (new_answer && !read_ahead_.empty() && !reading_ahead_ && !reads_failed_) {
    reading_ahead_ = true;
    *read_next = true;
  }
  if (MessageLimits::Over(message.size(), limits_->max_receive)) {
    *over_limit = message.size();
    return false;
  }
  batch->bytes = message;
  batch->message_ok = true;
  return true;
}

bool CallState::KeepReadAnswerLocked(notnets::CallResult result) {
  if (!result.status.ok()) {
    reads_failed_ = true;
    return true;
  }
  auto answer = std::make_shared<const notnets::ReceivedMessage>(std::move(result.response));
  if (!IsReadAnswer(answer->view())) return false;
  next_answer_ = std::move(answer);
  return true;
}

void CallState::ReadAnswered(Batch* batch, notnets::CallResult result) {
  size_t over_limit = 0;
  bool read_next = false;
  bool well_formed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    well_formed = KeepReadAnswerLocked(std::move(result));
    if (well_formed) TakeReadAheadLocked(batch, &over_limit, &read_next);
  }
  Conclude(batch, well_formed, over_limit, read_next);
}

void CallState::SendReadAhead() {
  SendOp(
      StreamOp::kRead, nullptr,
      [self = shared_from_this()](notnets::CallResult result, notnets::ClientContext*) {
        self->ReadAheadAnswered(std::move(result));
      },
      /*may_wait=*/false);
}

void CallState::ReadAheadAnswered(notnets::CallResult result) {
  size_t over_limit = 0;
  bool read_next = false;
  bool well_formed;
  Batch* waiting;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    read_ahead_answers_.fetch_add(1, std::memory_order_release);
    reading_ahead_ = false;
    well_formed = KeepReadAnswerLocked(std::move(result));
    waiting = std::exchange(waiting_read_ahead_, nullptr);
    if (waiting != nullptr && well_formed) TakeReadAheadLocked(waiting, &over_limit, &read_next);
  }
  if (waiting == nullptr) {
    if (!well_formed) Conclude(nullptr, false, 0, false);
    return;
  }
  Conclude(waiting, well_formed, over_limit, read_next);
}

void CallState::Conclude(Batch* batch, bool well_formed, size_t over_limit, bool read_next) {
  if (over_limit != 0) FailStream(limits_->ReceiveFailure(over_limit));
  if (!well_formed) {
    FailStream(::grpc::Status(::grpc::StatusCode::INTERNAL,
                              "the server sent a malformed answer to a stream read"));
  }
  if (read_next) SendReadAhead();
  if (batch != nullptr) Settle(batch);
}

void CallState::StartUnary() {
  auto self = shared_from_this();
  auto done = [self](notnets::CallResult result) mutable {
    CompletionScope scope;
    auto state = std::move(self);
    state->Finish(std::move(result));
  };
  if (!request_status_.ok()) {
    done(notnets::CallResult{request_status_, {}});
    return;
  }
  request_.Send(channel_.get(),
                path_.empty() ? std::string_view(method_->name) : kGenericUnaryMethod, &native_,
                notnets::CallCallback(std::move(done)),
                wait_inline_ ? kInlineWait : std::chrono::nanoseconds(0));
}

void CallState::SendOp(StreamOp op, InterceptorBatchMethods* methods, OpDone done, bool may_wait) {
  std::shared_ptr<notnets::ClientContext> context = OpContext();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cancelled_) context->TryCancel();
    op_contexts_.push_back(context);
  }
  auto self = shared_from_this();
  auto finished = [self, context, done = std::move(done)](notnets::CallResult result) mutable {
    CompletionScope scope;
    // Released inside the scope: `done` may hold the call's last reference.
    auto state = std::move(self);
    auto callback = std::move(done);
    {
      std::lock_guard<std::mutex> lock(state->mutex_);
      std::erase(state->op_contexts_, context);
    }
    callback(std::move(result), context.get());
  };
  OutgoingRequest request;
  ::grpc::Status over_limit;
  notnets::Status built = request.Build(channel_.get(), kStreamOpHeaderBytes, methods,
                                        method_->request, *limits_, &over_limit);
  if (!over_limit.ok()) FailStream(std::move(over_limit));
  if (!built.ok()) {
    finished(notnets::CallResult{built, {}});
    return;
  }
  EncodeStreamOp(op, stream_id_, request.header());
  // A blocking or completion-queue stream's operation, sent by the thread that waits for it,
  // is answered on that thread if the answer is quick, as a unary call is: a blocking stream
  // then costs no thread hand-off per write or read.
  bool wait_inline = may_wait && intercept_depth > 0 && complete_inline_;
  request.Send(channel_.get(), kStreamMethod, context.get(),
               notnets::CallCallback(std::move(finished)),
               wait_inline ? kInlineWait : std::chrono::nanoseconds(0));
}

std::unique_ptr<notnets::ClientContext> CallState::OpContext() const {
  auto context = std::make_unique<notnets::ClientContext>();
  context->set_deadline(native_.deadline());
  return context;
}

void CallState::Finish(notnets::CallResult result) {
  Batch* metadata;
  Batch* status;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Metadata over the channel's limit fails the call, and none of it is shown, as in gRPC.
    ::grpc::Status refused;
    if (!answer_.has_initial_metadata) {
      answer_.has_initial_metadata = true;
      answer_.initial_metadata = native_.GetServerInitialMetadata();
      refused = limits_->InitialMetadataFailure(answer_.initial_metadata);
    }
    LearnServerLocked(native_);
    answer_.trailing_metadata = native_.GetServerTrailingMetadata();
    if (!corked_write_failure_.ok()) result.status = corked_write_failure_;
    answer_.status =
        ToGrpc(result.status, cancelled_, std::chrono::steady_clock::now() >= native_.deadline(),
               &answer_.trailing_metadata);
    if (refused.ok()) {
      refused = limits_->TrailingMetadataFailure(answer_.trailing_metadata);
    } else {
      // The end came before the stream's metadata operation was answered: its reads fail too.
      answer_.initial_metadata.clear();
      metadata_refused_ = true;
    }
    if (!refused.ok() || metadata_refused_) answer_.trailing_metadata.clear();
    if (!refused.ok() && !cancelled_ && over_limit_.ok()) answer_.status = refused;
    if (!over_limit_.ok() && !cancelled_) answer_.status = over_limit_;
    if (answer_.status.ok() && MessageLimits::Over(result.response.size(), limits_->max_receive)) {
      answer_.status = limits_->ReceiveFailure(result.response.size());
    }
    answer_.has_status = true;
    // A call cancelled before its answer came gets no response, as in gRPC.
    response_ok_ = answer_.status.ok();
    if (response_ok_) response_ = std::move(result.response);
    metadata = waiting_metadata_.Take();
    status = waiting_status_.Take();
  }
  SettleAll(metadata, status);
}

void CallState::LearnServerLocked(const notnets::ClientContext& answered) {
  const notnets::PeerIdentity& server = answered.server_identity();
  // All zeros: no server answered (the call failed before it reached one). A server always has a
  // pid. Once the status is known the caller may be reading the context, or have destroyed it
  // (a stream's operations may still be answered after that).
  if (server_learned_ || server_auth_ == nullptr || server.pid == 0 || answer_.has_status ||
      context_gone_) {
    return;
  }
  server_learned_ = true;
  // Before the batches that receive the answer complete: the caller asks after them.
  SetAuthContext(context_, server_auth_->Of(server));
}

void CallState::FailCorkedWrite(const notnets::Status& status) {
  // A stream the server already ended refuses writes, as gRPC's does: its status stands.
  if (status.error_code() == notnets::StatusCode::ABORTED) return;
  std::lock_guard<std::mutex> lock(mutex_);
  corked_write_failure_ =
      notnets::Status(status.error_code(),
                      "the stream's first message was not delivered: " + status.error_message());
  native_.TryCancel();
}

void CallState::FailStream(::grpc::Status status) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!over_limit_.ok()) return;
  over_limit_ = std::move(status);
  // The stream may have ended before its last message was read: the status is still to be
  // received, and is the limit's, as in gRPC.
  if (answer_.has_status && !cancelled_) answer_.status = over_limit_;
  native_.TryCancel();
}

void CallState::SettleAll(Batch* metadata, Batch* status) {
  // Each Settle may complete and delete its batch: read the links first.
  while (status != nullptr) {
    Batch* next = status->next_waiting_status;
    Settle(status);
    status = next;
  }
  while (metadata != nullptr) {
    Batch* next = metadata->next_waiting_metadata;
    Settle(metadata);
    metadata = next;
  }
}

void CallState::Settle(Batch* batch) {
  grpc_completion_queue* callback_queue;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--batch->pending > 0) return;
    callback_queue = callback_queue_;
  }
  if (intercept_depth == 0 || complete_inline_) {
    Complete(batch, callback_queue);
    return;
  }
  auto complete = [self = shared_from_this(), batch, callback_queue] {
    self->Complete(batch, callback_queue);
  };
  if (callback_queue != nullptr) {
    // The reactions thread proceeds with it, and then runs its reaction without another wake-up.
    CallbackReactions::Defer(std::move(complete));
  } else {
    Deferrer::Get().Run(std::move(complete));
  }
}

void CallState::Complete(Batch* batch, grpc_completion_queue* callback_queue) {
  Fill(batch);
  InterceptorBatchMethods* methods = batch->methods;
  delete batch;
  CallbackReactions::Proceed(methods, callback_queue);
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
    bool ok = streamed ? batch->message_ok && !metadata_refused_ : response_ok_;
    std::string_view bytes = streamed ? batch->bytes : response_.view();
    if (!ok) {
      methods->FailHijackedRecvMessage();
    } else if (method_->response == nullptr) {
      // A generic stub receives the bytes as they are.
      ::grpc::Slice slice(bytes.data(), bytes.size());
      *static_cast<::grpc::ByteBuffer*>(methods->GetRecvMessage()) = ::grpc::ByteBuffer(&slice, 1);
    } else if (!ParseFrom(bytes, method_->response->view_mutable(methods->GetRecvMessage())).ok()) {
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
  read_ahead_ = {};
  read_ahead_answer_.reset();
  next_answer_.reset();
  native_.TryCancel();
  for (const auto& context : op_contexts_) context->TryCancel();
}

void CallState::Close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    context_gone_ = true;
  }
  if (stream_id_ == 0) return;
  SendOp(StreamOp::kClose, nullptr, [](notnets::CallResult, notnets::ClientContext*) {});
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

::grpc::experimental::Interceptor* NewPoolCall(
    ::grpc::experimental::ClientRpcInfo* info, const MethodBinding* method, std::string path,
    std::shared_ptr<notnets::Channel> channel, const std::string* peer, const StandInCall* stand_in,
    ServerAuthContexts* server_auth, const MessageLimits* limits, ::grpc::Status failure) {
  bool routed = channel != nullptr;
  auto state = std::make_shared<CallState>(info, method, std::move(path), std::move(channel), peer,
                                           stand_in, server_auth, limits, std::move(failure));
  if (routed) ChildCalls::Start(info->client_context(), state);
  return new PoolCall(std::move(state));
}

}  // namespace notnets::grpc::internal
