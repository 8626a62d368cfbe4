#include "grpc/server_stream.h"

#include "grpc/deferrer.h"
#include "grpc/message_io.h"
#include "grpc/server_context_access.h"
#include "grpc/wire.h"

namespace notnets::grpc::internal {

namespace {

using Clock = std::chrono::steady_clock;

// The stream whose reactions this thread is running, if any.
thread_local const ServerStream* reacting = nullptr;

const notnets::Status kEndOfStream(notnets::StatusCode::OUT_OF_RANGE, "end of stream");
const notnets::Status kStreamOver(notnets::StatusCode::ABORTED, "the stream is over");

notnets::Status OutOfTurn(const char* what) {
  return notnets::Status(
      notnets::StatusCode::FAILED_PRECONDITION,
      std::string("the client sent a second ") + what + " before the first was answered");
}

// gRPC's name for a streaming method's kind.
::grpc::internal::RpcMethod::RpcType RpcTypeOf(RpcKind kind) {
  switch (kind) {
    case RpcKind::kClientStreaming:
      return ::grpc::internal::RpcMethod::CLIENT_STREAMING;
    case RpcKind::kServerStreaming:
      return ::grpc::internal::RpcMethod::SERVER_STREAMING;
    case RpcKind::kBidiStreaming:
      return ::grpc::internal::RpcMethod::BIDI_STREAMING;
    case RpcKind::kUnary:
      break;
  }
  return ::grpc::internal::RpcMethod::NORMAL_RPC;
}

}  // namespace

ServerStream::ServerStream(uint64_t id, const MethodBinding* method, const MessageLimits* limits,
                           notnets::ServerCall* open, CancelWatcher* watcher,
                           const CallerStandIns* stand_ins, LiveCalls* live)
    : live_(live), id_(id), method_(method), limits_(limits), open_(open), watcher_(watcher) {
  SetDeadline(&context_, open->context()->deadline());
  SetClientMetadata(&context_, open->context()->client_metadata());
  stand_ins->Lend(&context_, this, method->name.c_str(), RpcTypeOf(method->kind),
                  open->context()->peer_identity());
  if (method->kind == RpcKind::kServerStreaming) request_.reset(method->request->create());
  if (method->kind == RpcKind::kClientStreaming) response_.reset(method->response->create());
}

ServerStream::~ServerStream() { delete reactions_; }

notnets::Status ServerStream::ParseRequest(std::string_view bytes) {
  return ParseFrom(bytes, request_.get());
}

void ServerStream::Start(::grpc::Service* service) {
  method_->callback_stream(service, this);
  bool queued;
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    if (!finished_) watcher_->Add(this);
    queued = !reactions_queue_.empty();
  }
  // What was posted before a reactor was bound (a cancellation that came first) waited for it.
  if (queued) RunReactionsElsewhere();
  Unref();
}

void ServerStream::Refuse(const notnets::Status& status) {
  Answer(std::exchange(open_, nullptr), status);
}

void ServerStream::Bind(StreamReactions* reactions) {
  ::notnets::internal::MutexLock lock(&mutex_);
  reactions_ = reactions;
}

void ServerStream::SendInitialMetadata() {
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    SendInitialMetadataLocked();
    Post([this] { reactions_->OnSendInitialMetadataDone(true); });
  }
  RunReactionsElsewhere();
}

void ServerStream::Read(MessageLite* message) {
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    if (!inbound_.empty()) {
      bool ok = ParseFrom(inbound_.front(), message).ok();
      inbound_.pop_front();
      if (waiting_write_ != nullptr) {
        inbound_.emplace_back(waiting_write_->request().view().substr(kStreamOpHeaderBytes));
        Answer(std::exchange(waiting_write_, nullptr), notnets::Status::OK);
      }
      Post([this, ok] { reactions_->OnReadDone(ok); });
    } else if (writes_done_ || cancelled_ || finished_) {
      Post([this] { reactions_->OnReadDone(false); });
    } else {
      pending_read_ = message;
    }
  }
  RunReactionsElsewhere();
}

void ServerStream::Write(const MessageLite& message) {
  std::string bytes = message.SerializeAsString();
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    SendInitialMetadataLocked();
    if (cancelled_ || finished_) {
      Post([this] { reactions_->OnWriteDone(false); });
    } else if (MessageLimits::Over(bytes.size(), limits_->max_send)) {
      if (send_failure_.ok()) send_failure_ = NativeStatus(limits_->SendFailure(bytes.size()));
      Post([this] { reactions_->OnWriteDone(false); });
    } else if (waiting_read_ != nullptr) {
      std::string answer;
      AppendReadMessage(bytes, &answer);
      waiting_read_->response()->Copy(answer);
      Answer(std::exchange(waiting_read_, nullptr), notnets::Status::OK);
      Post([this] { reactions_->OnWriteDone(true); });
    } else if (OutboundRoomLocked()) {
      outbound_bytes_ += bytes.size();
      outbound_.push_back(std::move(bytes));
      Post([this] { reactions_->OnWriteDone(true); });
    } else {
      // Flow control: OnWriteDone waits until the client reads.
      held_write_ = std::move(bytes);
      write_held_ = true;
    }
  }
  RunReactionsElsewhere();
}

void ServerStream::Finish(::grpc::Status status) {
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    if (finished_) return;
    finished_ = true;
  }
  // Before the open call is answered: the watcher reads its context.
  watcher_->Remove(this);
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    ended_at_ = Clock::now();
    SendInitialMetadataLocked();
    notnets::ServerContext* native = open_->context();
    notnets::Status answer = ToNative(Outcome(std::move(status)), InitialMetadata(context_),
                                      TrailingMetadata(context_), native);
    if (answer.ok() && response_ != nullptr) {
      answer = SerializeInto(*response_, *limits_, open_->response());
    }
    if (!send_failure_.ok()) answer = send_failure_;
    Answer(std::exchange(open_, nullptr), answer);
    if (write_held_) {
      outbound_bytes_ += held_write_.size();
      outbound_.push_back(std::move(held_write_));
      write_held_ = false;
      Post([this] { reactions_->OnWriteDone(true); });
    }
    EndLocked();
  }
  RunReactionsElsewhere();
  Unref();
}

void ServerStream::ClientOp(uint8_t op, std::string_view message, notnets::ServerCall* call) {
  bool cancel = false;
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    switch (static_cast<StreamOp>(op)) {
      case StreamOp::kRead:
        if (!outbound_.empty()) {
          call->response()->Copy(TakeReadAnswerLocked());
          Answer(call, notnets::Status::OK);
        } else if (finished_ || cancelled_) {
          Answer(call, kEndOfStream);
        } else if (waiting_read_ != nullptr) {
          Answer(call, OutOfTurn("read"));
        } else {
          waiting_read_ = call;
        }
        break;
      case StreamOp::kWrite:
        if (finished_ || cancelled_) {
          Answer(call, kStreamOver);
        } else if (MessageLimits::Over(message.size(), limits_->max_receive)) {
          // As gRPC's server: the stream ends. The client ends it with this status.
          Answer(call, NativeStatus(limits_->ReceiveFailure(message.size())));
          cancel = true;
        } else if (writes_done_) {
          Answer(call, notnets::Status(notnets::StatusCode::FAILED_PRECONDITION,
                                       "the client wrote after WritesDone"));
        } else if (pending_read_ != nullptr) {
          bool ok = ParseFrom(message, std::exchange(pending_read_, nullptr)).ok();
          Answer(call, notnets::Status::OK);
          Post([this, ok] { reactions_->OnReadDone(ok); });
        } else if (inbound_.size() < kStreamWindow) {
          inbound_.emplace_back(message);
          Answer(call, notnets::Status::OK);
        } else if (waiting_write_ != nullptr) {
          Answer(call, OutOfTurn("write"));
        } else {
          // Flow control: the client's Write completes when the handler reads.
          waiting_write_ = call;
        }
        break;
      case StreamOp::kWritesDone:
        writes_done_ = true;
        if (pending_read_ != nullptr) {
          pending_read_ = nullptr;
          Post([this] { reactions_->OnReadDone(false); });
        }
        Answer(call, notnets::Status::OK);
        break;
      case StreamOp::kInitialMetadata:
        if (waiting_metadata_ != nullptr) {
          Answer(call, OutOfTurn("metadata request"));
        } else {
          waiting_metadata_ = call;
          if (metadata_sent_ || finished_ || cancelled_) AnswerMetadataLocked();
        }
        break;
      case StreamOp::kClose:
        closed_ = true;
        cancel = !finished_ && !cancelled_;
        Answer(call, notnets::Status::OK);
        break;
      default:
        Answer(call, notnets::Status(notnets::StatusCode::INVALID_ARGUMENT,
                                     "unknown stream operation " + std::to_string(op)));
    }
  }
  // A client that leaves a stream before its end cancels it, as gRPC does when a call is
  // destroyed unfinished.
  if (cancel) {
    watcher_->Remove(this);
    ::notnets::internal::MutexLock lock(&mutex_);
    cancel = !finished_ && !cancelled_;
    if (cancel) {
      MarkCancelled(&context_);
      Ref();
    }
  }
  if (cancel) {
    child_calls().CancelAll();
    Cancelled();
  }
  RunReactions();
}

std::string ServerStream::TakeReadAnswerLocked() {
  std::string answer;
  do {
    AppendReadMessage(outbound_.front(), &answer);
    outbound_bytes_ -= outbound_.front().size();
    outbound_.pop_front();
    if (write_held_ && OutboundRoomLocked()) {
      outbound_bytes_ += held_write_.size();
      outbound_.push_back(std::move(held_write_));
      write_held_ = false;
      Post([this] { reactions_->OnWriteDone(true); });
    }
  } while (!outbound_.empty() &&
           answer.size() + kMessageLengthBytes + outbound_.front().size() <= kReadAnswerBytes);
  return answer;
}

bool ServerStream::OutboundRoomLocked() const {
  return outbound_.size() < kStreamWindow || outbound_bytes_ < kStreamWindowBytes;
}

void ServerStream::CancelLocked() {
  // Under the watcher's lock: no stream lock here (Finish takes them in the other order).
  MarkCancelled(&context_);
  Ref();
}

void ServerStream::Cancelled() {
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    if (!cancelled_ && !finished_) {
      cancelled_ = true;
      ended_at_ = Clock::now();
      if (pending_read_ != nullptr) {
        pending_read_ = nullptr;
        Post([this] { reactions_->OnReadDone(false); });
      }
      if (write_held_) {
        write_held_ = false;
        held_write_.clear();
        Post([this] { reactions_->OnWriteDone(false); });
      }
      Post([this] { reactions_->OnCancel(); });
      EndLocked();
    }
  }
  RunReactions();
  Unref();
}

bool ServerStream::Done() {
  ::notnets::internal::MutexLock lock(&mutex_);
  return done_;
}

bool ServerStream::Forgettable(Clock::time_point now) {
  ::notnets::internal::MutexLock lock(&mutex_);
  return done_ && waiting_read_ == nullptr && waiting_write_ == nullptr &&
         waiting_metadata_ == nullptr &&
         (closed_ || cancelled_ || now - ended_at_ > StreamTable::kLinger);
}

void ServerStream::Post(std::function<void()> reaction) {
  reactions_queue_.push_back(std::move(reaction));
}

void ServerStream::RunReactions() {
  mutex_.Lock();
  if (!running_reactions_ && reactions_ != nullptr) {
    running_reactions_ = true;
    const ServerStream* outer = std::exchange(reacting, this);
    while (!reactions_queue_.empty()) {
      std::function<void()> reaction = std::move(reactions_queue_.front());
      reactions_queue_.pop_front();
      mutex_.Unlock();
      reaction();
      mutex_.Lock();
    }
    reacting = outer;
    running_reactions_ = false;
  }
  mutex_.Unlock();
}

void ServerStream::Unref() {
  // Once the count falls, OnDone may run on another thread and the table drop the stream while
  // this thread has yet to defer the run below: the stream must stay until then.
  std::shared_ptr<ServerStream> self = shared_from_this();
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    Post([this] {
      reactions_->OnDone();
      {
        ::notnets::internal::MutexLock done_lock(&mutex_);
        done_ = true;
      }
      LiveCalls::Changed();
    });
  }
  RunReactionsElsewhere();
}

void ServerStream::RunReactionsElsewhere() {
  // Called from one of this stream's reactions (a reactor writing its next message from
  // OnWriteDone): the loop running it runs what was posted once it returns, and holds no reactor
  // lock then. A hand-off per message would cost a thread wake-up each.
  if (reacting == this) return;
  // The table keeps the stream only until OnDone ran, and OnDone may run on another thread (one
  // running this queue when a client operation arrives) while this run still waits its turn.
  Deferrer::Get().Run([self = shared_from_this()] { self->RunReactions(); });
}

void ServerStream::SendInitialMetadataLocked() {
  if (metadata_sent_) return;
  metadata_sent_ = true;
  AnswerMetadataLocked();
}

void ServerStream::AnswerMetadataLocked() {
  if (waiting_metadata_ == nullptr) return;
  for (const auto& [key, value] : InitialMetadata(context_)) {
    waiting_metadata_->context()->AddInitialMetadata(key, value);
  }
  Answer(std::exchange(waiting_metadata_, nullptr), notnets::Status::OK);
}

void ServerStream::EndLocked() {
  if (waiting_read_ != nullptr && outbound_.empty()) {
    Answer(std::exchange(waiting_read_, nullptr), kEndOfStream);
  }
  if (waiting_write_ != nullptr) Answer(std::exchange(waiting_write_, nullptr), kStreamOver);
  if (pending_read_ != nullptr) {
    pending_read_ = nullptr;
    Post([this] { reactions_->OnReadDone(false); });
  }
  AnswerMetadataLocked();
}

void ServerStream::Answer(notnets::ServerCall* call, const notnets::Status& status) {
  call->Finish(status);
}

StreamTable::~StreamTable() {
  for (auto& [id, parked] : parked_) Answer(parked.call);
}

void StreamTable::Answer(notnets::ServerCall* call) {
  call->Finish(notnets::Status(notnets::StatusCode::NOT_FOUND,
                               "no such stream on this server (it ended, or never opened)"));
}

bool StreamTable::Add(std::shared_ptr<ServerStream> stream) {
  std::vector<Parked> adopted;
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    if (!streams_.emplace(stream->id(), stream).second) return false;
    auto [begin, end] = parked_.equal_range(stream->id());
    for (auto it = begin; it != end; ++it) adopted.push_back(it->second);
    parked_.erase(stream->id());
  }
  for (const Parked& parked : adopted) {
    stream->ClientOp(parked.op, parked.call->request().view().substr(kStreamOpHeaderBytes),
                     parked.call);
  }
  return true;
}

void StreamTable::Dispatch(uint64_t id, uint8_t op, notnets::ServerCall* call) {
  std::shared_ptr<ServerStream> stream;
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    auto it = streams_.find(id);
    if (it == streams_.end()) {
      parked_.emplace(id, Parked{op, call, Clock::now()});
      return;
    }
    stream = it->second;
  }
  stream->ClientOp(op, call->request().view().substr(kStreamOpHeaderBytes), call);
}

void StreamTable::Sweep() {
  auto now = Clock::now();
  std::vector<std::shared_ptr<ServerStream>> forgotten;
  std::vector<notnets::ServerCall*> expired;
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    for (auto it = streams_.begin(); it != streams_.end();) {
      if (it->second->Forgettable(now)) {
        forgotten.push_back(std::move(it->second));
        it = streams_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = parked_.begin(); it != parked_.end();) {
      if (now - it->second.since > kParkTimeout || it->second.call->context()->IsCancelled()) {
        expired.push_back(it->second.call);
        it = parked_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (notnets::ServerCall* call : expired) Answer(call);
}

bool StreamTable::AllDone(size_t* count) {
  ::notnets::internal::MutexLock lock(&mutex_);
  *count = streams_.size();
  for (const auto& [id, stream] : streams_) {
    if (!stream->Done()) return false;
  }
  return true;
}

void StreamTable::ForgetDone() {
  // Destroyed after the lock is released: a stream's destructor deletes its reactor's adapter
  // and wakes the teardown's wait.
  std::vector<std::shared_ptr<ServerStream>> forgotten;
  {
    ::notnets::internal::MutexLock lock(&mutex_);
    for (auto it = streams_.begin(); it != streams_.end();) {
      if (it->second->Done()) {
        forgotten.push_back(std::move(it->second));
        it = streams_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace notnets::grpc::internal

namespace notnets::grpc::internal {

::grpc::CallbackServerContext* StreamContext(ServerStream* stream) { return stream->context(); }
void StreamBind(ServerStream* stream, StreamReactions* reactions) { stream->Bind(reactions); }
void StreamSendInitialMetadata(ServerStream* stream) { stream->SendInitialMetadata(); }
void StreamRead(ServerStream* stream, MessageLite* message) { stream->Read(message); }
void StreamWrite(ServerStream* stream, const MessageLite& message) { stream->Write(message); }
void StreamFinish(ServerStream* stream, ::grpc::Status status) {
  stream->Finish(std::move(status));
}
const MessageLite* StreamRequest(ServerStream* stream) { return stream->request(); }
MessageLite* StreamResponse(ServerStream* stream) { return stream->response(); }

}  // namespace notnets::grpc::internal
