#include "test_services.h"

#include <chrono>
#include <string_view>
#include <thread>

namespace notnets::test {
namespace {

using ::grpc::Status;
using ::grpc::StatusCode;

// How long a handler waits for a cancellation that does not come before it gives up, so that a
// path that never delivers one fails its test instead of hanging the server's shutdown.
constexpr std::chrono::seconds kMaxCancelWait{30};

int64_t DeadlineRemainingMs(const ::grpc::ServerContextBase& context) {
  auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return -1;
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                               std::chrono::system_clock::now())
      .count();
}

// Sends the request metadata whose keys start with "x-test-" back, as initial and as trailing
// metadata.
void EchoMetadata(::grpc::ServerContextBase* context) {
  for (const auto& [key, value] : context->client_metadata()) {
    std::string_view name(key.data(), key.size());
    // gRPC's internal keys never reach a server over HTTP/2: over the pool neither.
    if (name.starts_with("grpc-internal-")) context->AddInitialMetadata("x-test-internal", "seen");
    if (!name.starts_with("x-test-")) continue;
    std::string k(key.data(), key.size()), v(value.data(), value.size());
    context->AddInitialMetadata(k, v);
    context->AddTrailingMetadata(k, v);
  }
}

// Echo with wait_for_cancel on the callback API: finishes when told of the cancellation.
class CancelWaitReactor final : public ::grpc::ServerUnaryReactor {
 public:
  explicit CancelWaitReactor(ServerObservations* observations) : observations_(observations) {
    ++observations_->calls_waiting;
  }

  void OnCancel() override {
    --observations_->calls_waiting;
    ++observations_->cancellations_seen;
    Finish(Status(StatusCode::CANCELLED, "the handler saw the cancellation"));
  }
  void OnDone() override { delete this; }

 private:
  ServerObservations* const observations_;
};

// ServerStream on the callback API: one write in flight at a time, the next one started when
// the previous one is done, as a server that respects flow control does; the last as the request
// says.
class NumberedWriter final : public ::grpc::ServerWriteReactor<StreamMessage> {
 public:
  NumberedWriter(const StreamRequest& request, ServerObservations* observations)
      : request_(request), observations_(observations) {
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (finished_) return;
    if (!ok) {
      Finish(Status(StatusCode::UNAVAILABLE, "the stream broke"));
      return;
    }
    ++observations_->messages_written;
    WriteNext();
  }
  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    Status status = RequestedStatus(request_.status_code(), request_.status_message());
    if (next_ == request_.message_count()) {
      Finish(status);
      return;
    }
    message_ = NumberedMessage(next_++, request_.message_size());
    if (next_ == request_.message_count() && request_.last_write() == LAST_WRITE_WRITE_LAST) {
      finished_ = true;
      StartWriteLast(&message_, ::grpc::WriteOptions());
      Finish(status);
    } else if (next_ == request_.message_count() &&
               request_.last_write() == LAST_WRITE_WITH_STATUS) {
      finished_ = true;
      StartWriteAndFinish(&message_, ::grpc::WriteOptions(), status);
    } else {
      StartWrite(&message_);
    }
  }

  const StreamRequest request_;
  ServerObservations* const observations_;
  uint32_t next_ = 0;
  StreamMessage message_;
  bool finished_ = false;  // Finish was called with the last write in flight
};

// ClientStream on the callback API.
class Summarizer final : public ::grpc::ServerReadReactor<StreamMessage> {
 public:
  explicit Summarizer(StreamSummary* summary) : summary_(summary) {
    summary_->set_in_order(true);
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(Status::OK);
      return;
    }
    Count(message_, summary_);
    StartRead(&message_);
  }
  void OnDone() override { delete this; }

 private:
  StreamSummary* const summary_;
  StreamMessage message_;
};

// Bidi on the callback API: reads a message, writes it back, reads the next; a message that
// ends the call is answered after the half-close, twice, the second time as it says.
class Echoer final : public ::grpc::ServerBidiReactor<StreamMessage, StreamMessage> {
 public:
  Echoer() { StartRead(&message_); }

  void OnReadDone(bool ok) override {
    if (ending_) {
      if (ok) {
        StartRead(&rest_);
      } else {
        StartWrite(&message_);
      }
      return;
    }
    if (!ok) {
      Finish(Status::OK);
      return;
    }
    if (message_.end_with() != LAST_WRITE_PLAIN) {
      ending_ = true;
      StartRead(&rest_);
      return;
    }
    StartWrite(&message_);
  }
  void OnWriteDone(bool ok) override {
    if (finished_) return;
    if (!ok) {
      Finish(Status(StatusCode::UNAVAILABLE, "the stream broke"));
      return;
    }
    if (!ending_) {
      StartRead(&message_);
      return;
    }
    finished_ = true;
    if (message_.end_with() == LAST_WRITE_WRITE_LAST) {
      StartWriteLast(&message_, ::grpc::WriteOptions());
      Finish(Status::OK);
    } else {
      StartWriteAndFinish(&message_, ::grpc::WriteOptions(), Status::OK);
    }
  }
  void OnDone() override { delete this; }

 private:
  StreamMessage message_;
  StreamMessage rest_;     // what comes after a message that ends the call
  bool ending_ = false;    // message_ ends the call: reading on to the half-close
  bool finished_ = false;  // Finish was called with the last write in flight
};

}  // namespace

Status RequestedStatus(int32_t code, const std::string& message, const std::string& details) {
  if (code == 0) return Status::OK;
  return Status(static_cast<StatusCode>(code), message, details);
}

void StartStream(::grpc::ServerContextBase* context) {
  EchoMetadata(context);
  bool has_deadline = context->deadline() != std::chrono::system_clock::time_point::max();
  context->AddTrailingMetadata("x-deadline", has_deadline ? "set" : "none");
}

// The response is filled even when the call is to fail, so that the tests see it is not
// delivered.
void AnswerEcho(::grpc::ServerContextBase* context, const EchoRequest& request,
                EchoResponse* response) {
  if (request.echo_metadata()) EchoMetadata(context);
  response->set_deadline_remaining_ms(DeadlineRemainingMs(*context));
  if (request.response_bytes() != 0) {
    response->set_payload(Pattern(request.response_bytes()));
  } else {
    response->set_payload(request.payload());
  }
}

void Count(const StreamMessage& message, StreamSummary* summary) {
  if (message.sequence() != summary->message_count()) summary->set_in_order(false);
  summary->set_message_count(summary->message_count() + 1);
  summary->set_total_bytes(summary->total_bytes() + message.payload().size());
}

std::string Pattern(size_t size, uint32_t seed) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + seed * 7 + i / 256));
  return bytes;
}

StreamMessage NumberedMessage(uint32_t sequence, uint32_t size) {
  StreamMessage message;
  message.set_sequence(sequence);
  message.set_payload(Pattern(size, sequence));
  return message;
}

Status SyncTestService::Echo(::grpc::ServerContext* context, const EchoRequest* request,
                             EchoResponse* response) {
  AnswerEcho(context, *request, response);
  if (request->wait_for_cancel()) {
    // The synchronous API has no cancellation callback: handlers poll.
    ++observations_->calls_waiting;
    auto give_up = std::chrono::steady_clock::now() + kMaxCancelWait;
    while (!context->IsCancelled() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    --observations_->calls_waiting;
    if (!context->IsCancelled()) return Status(StatusCode::INTERNAL, "no cancellation came");
    ++observations_->cancellations_seen;
    return Status(StatusCode::CANCELLED, "the handler saw the cancellation");
  }
  return RequestedStatus(request->status_code(), request->status_message(),
                         request->status_details());
}

Status SyncTestService::ServerStream(::grpc::ServerContext* context, const StreamRequest* request,
                                     ::grpc::ServerWriter<StreamMessage>* writer) {
  StartStream(context);
  for (uint32_t i = 0; i < request->message_count(); ++i) {
    StreamMessage message = NumberedMessage(i, request->message_size());
    if (i + 1 == request->message_count() && request->last_write() != LAST_WRITE_PLAIN) {
      // The status goes with it, once the handler returned.
      writer->WriteLast(message, ::grpc::WriteOptions());
    } else if (!writer->Write(message)) {
      return Status(StatusCode::UNAVAILABLE, "the stream broke");
    }
  }
  return RequestedStatus(request->status_code(), request->status_message());
}

Status SyncTestService::ClientStream(::grpc::ServerContext* context,
                                     ::grpc::ServerReader<StreamMessage>* reader,
                                     StreamSummary* summary) {
  StartStream(context);
  summary->set_in_order(true);
  StreamMessage message;
  while (reader->Read(&message)) Count(message, summary);
  return Status::OK;
}

Status SyncTestService::Bidi(::grpc::ServerContext* context,
                             ::grpc::ServerReaderWriter<StreamMessage, StreamMessage>* stream) {
  StartStream(context);
  StreamMessage message;
  while (stream->Read(&message)) {
    if (message.end_with() != LAST_WRITE_PLAIN) {
      StreamMessage rest;
      while (stream->Read(&rest)) {
      }
      if (!stream->Write(message)) return Status(StatusCode::UNAVAILABLE, "the stream broke");
      stream->WriteLast(message, ::grpc::WriteOptions());
      return Status::OK;
    }
    if (!stream->Write(message)) return Status(StatusCode::UNAVAILABLE, "the stream broke");
  }
  return Status::OK;
}

::grpc::ServerUnaryReactor* CallbackTestService::Echo(::grpc::CallbackServerContext* context,
                                                      const EchoRequest* request,
                                                      EchoResponse* response) {
  AnswerEcho(context, *request, response);
  if (request->wait_for_cancel()) return new CancelWaitReactor(observations_);
  ::grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(RequestedStatus(request->status_code(), request->status_message(),
                                  request->status_details()));
  return reactor;
}

::grpc::ServerWriteReactor<StreamMessage>* CallbackTestService::ServerStream(
    ::grpc::CallbackServerContext* context, const StreamRequest* request) {
  StartStream(context);
  return new NumberedWriter(*request, observations_);
}

::grpc::ServerReadReactor<StreamMessage>* CallbackTestService::ClientStream(
    ::grpc::CallbackServerContext* context, StreamSummary* summary) {
  StartStream(context);
  return new Summarizer(summary);
}

::grpc::ServerBidiReactor<StreamMessage, StreamMessage>* CallbackTestService::Bidi(
    ::grpc::CallbackServerContext* context) {
  StartStream(context);
  return new Echoer();
}

::grpc::ServerWriteReactor<StreamMessage>* CallbackTestService::NullReactorServerStream(
    ::grpc::CallbackServerContext*, const StreamRequest*) {
  return nullptr;
}

::grpc::ServerReadReactor<StreamMessage>* CallbackTestService::NullReactorClientStream(
    ::grpc::CallbackServerContext*, StreamSummary*) {
  return nullptr;
}

::grpc::ServerBidiReactor<StreamMessage, StreamMessage>* CallbackTestService::NullReactorBidi(
    ::grpc::CallbackServerContext*) {
  return nullptr;
}

}  // namespace notnets::test
