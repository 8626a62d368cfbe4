#include "async_test_services.h"

#include <functional>
#include <utility>

namespace notnets::test {
namespace {

using ::grpc::ServerCompletionQueue;
using ::grpc::ServerContext;
using ::grpc::Status;
using ::grpc::StatusCode;

// What the poller runs for each tag: every tag given to gRPC is a Step of a call below. The
// calls run on the one polling thread, so they need no lock.
using Step = std::function<void(bool ok)>;

// Echo: answered as the other APIs answer it; with wait_for_cancel it finishes once the
// AsyncNotifyWhenDone tag says the call was cancelled.
template <class Service>
class EchoCall {
 public:
  EchoCall(Service* service, ServerCompletionQueue* queue, const bool* stopping,
           ServerObservations* observations)
      : service_(service),
        queue_(queue),
        stopping_(stopping),
        observations_(observations),
        responder_(&context_) {
    context_.AsyncNotifyWhenDone(&done_);
    service->RequestEcho(&context_, &request_, &responder_, queue, queue, &started_);
  }

 private:
  void Started(bool ok) {
    // A call that never started never delivers its AsyncNotifyWhenDone tag.
    if (!ok) {
      delete this;
      return;
    }
    if (*stopping_) {
      finish_seen_ = true;  // nothing to finish: the done tag deletes the call
      return;
    }
    new EchoCall(service_, queue_, stopping_, observations_);
    AnswerEcho(&context_, request_, &response_);
    if (request_.wait_for_cancel()) {
      ++observations_->calls_waiting;
      waiting_ = true;
      return;
    }
    Status status = RequestedStatus(request_.status_code(), request_.status_message(),
                                    request_.status_details());
    if (status.ok()) {
      responder_.Finish(response_, status, &finished_);
    } else {
      responder_.FinishWithError(status, &finished_);
    }
  }
  void Done() {
    done_seen_ = true;
    if (waiting_ && *stopping_) {
      --observations_->calls_waiting;
      delete this;
      return;
    }
    if (waiting_) {
      waiting_ = false;
      --observations_->calls_waiting;
      if (context_.IsCancelled()) ++observations_->cancellations_seen;
      responder_.FinishWithError(Status(StatusCode::CANCELLED, "the handler saw the cancellation"),
                                 &finished_);
      return;
    }
    if (finish_seen_) delete this;
  }
  void Finished() {
    finish_seen_ = true;
    if (done_seen_) delete this;
  }

  Service* const service_;
  ServerCompletionQueue* const queue_;
  const bool* const stopping_;
  ServerObservations* const observations_;
  ServerContext context_;
  EchoRequest request_;
  EchoResponse response_;
  ::grpc::ServerAsyncResponseWriter<EchoResponse> responder_;
  bool waiting_ = false;
  bool done_seen_ = false;
  bool finish_seen_ = false;
  Step started_ = [this](bool ok) { Started(ok); };
  Step done_ = [this](bool) { Done(); };
  Step finished_ = [this](bool) { Finished(); };
};

// A method the service does not implement: UNIMPLEMENTED at once, as the generated base class of
// the other APIs answers. `Responder` is the method's server-side stream or response writer.
template <class Responder, class Request>
class UnimplementedCall {
 public:
  using Requester = std::function<void(ServerContext*, Request*, Responder*, void* tag)>;
  UnimplementedCall(Requester requester, const bool* stopping)
      : requester_(std::move(requester)), stopping_(stopping), responder_(&context_) {
    requester_(&context_, &request_, &responder_, &started_);
  }

 private:
  void Started(bool ok) {
    if (!ok || *stopping_) {
      delete this;
      return;
    }
    new UnimplementedCall(requester_, stopping_);
    Status status(StatusCode::UNIMPLEMENTED, "");
    if constexpr (requires { responder_.FinishWithError(status, nullptr); }) {
      responder_.FinishWithError(status, &finished_);
    } else {
      responder_.Finish(status, &finished_);
    }
  }

  Requester requester_;
  const bool* const stopping_;
  ServerContext context_;
  Request request_;
  Responder responder_;
  Step started_ = [this](bool ok) { Started(ok); };
  Step finished_ = [this](bool) { delete this; };
};

// ServerStream: one write in flight at a time, then the requested status; the last write as the
// request says.
class ServerStreamCall {
 public:
  ServerStreamCall(TestService::AsyncService* service, ServerCompletionQueue* queue,
                   const bool* stopping)
      : service_(service), queue_(queue), stopping_(stopping), writer_(&context_) {
    service->RequestServerStream(&context_, &request_, &writer_, queue, queue, &started_);
  }

 private:
  void Started(bool ok) {
    if (!ok || *stopping_) {
      delete this;
      return;
    }
    new ServerStreamCall(service_, queue_, stopping_);
    StartStream(&context_);
    WriteNext(true);
  }
  void WriteNext(bool ok) {
    if (*stopping_) {
      delete this;
      return;
    }
    if (!ok) {
      writer_.Finish(Status(StatusCode::UNAVAILABLE, "the stream broke"), &finished_);
      return;
    }
    Status status = RequestedStatus(request_.status_code(), request_.status_message());
    if (next_ == request_.message_count()) {
      writer_.Finish(status, &finished_);
      return;
    }
    message_ = NumberedMessage(next_++, request_.message_size());
    if (next_ == request_.message_count() && request_.last_write() == LAST_WRITE_WRITE_LAST) {
      // The write completes with the status: both tags come.
      ends_ = 2;
      writer_.WriteLast(message_, ::grpc::WriteOptions(), &finished_);
      writer_.Finish(status, &finished_);
    } else if (next_ == request_.message_count() &&
               request_.last_write() == LAST_WRITE_WITH_STATUS) {
      writer_.WriteAndFinish(message_, ::grpc::WriteOptions(), status, &finished_);
    } else {
      writer_.Write(message_, &written_);
    }
  }
  void Ended() {
    if (--ends_ == 0) delete this;
  }

  TestService::AsyncService* const service_;
  ServerCompletionQueue* const queue_;
  const bool* const stopping_;
  ServerContext context_;
  StreamRequest request_;
  ::grpc::ServerAsyncWriter<StreamMessage> writer_;
  uint32_t next_ = 0;
  StreamMessage message_;
  int ends_ = 1;  // the tags to come once the status is on its way
  Step started_ = [this](bool ok) { Started(ok); };
  Step written_ = [this](bool ok) { WriteNext(ok); };
  Step finished_ = [this](bool) { Ended(); };
};

// ClientStream: reads to the end, then answers the summary.
class ClientStreamCall {
 public:
  ClientStreamCall(TestService::AsyncService* service, ServerCompletionQueue* queue,
                   const bool* stopping)
      : service_(service), queue_(queue), stopping_(stopping), reader_(&context_) {
    service->RequestClientStream(&context_, &reader_, queue, queue, &started_);
  }

 private:
  void Started(bool ok) {
    if (!ok || *stopping_) {
      delete this;
      return;
    }
    new ClientStreamCall(service_, queue_, stopping_);
    StartStream(&context_);
    summary_.set_in_order(true);
    reader_.Read(&message_, &read_);
  }
  void Read(bool ok) {
    if (*stopping_) {
      delete this;
      return;
    }
    if (!ok) {
      reader_.Finish(summary_, Status::OK, &finished_);
      return;
    }
    Count(message_, &summary_);
    reader_.Read(&message_, &read_);
  }

  TestService::AsyncService* const service_;
  ServerCompletionQueue* const queue_;
  const bool* const stopping_;
  ServerContext context_;
  ::grpc::ServerAsyncReader<StreamSummary, StreamMessage> reader_;
  StreamSummary summary_;
  StreamMessage message_;
  Step started_ = [this](bool ok) { Started(ok); };
  Step read_ = [this](bool ok) { Read(ok); };
  Step finished_ = [this](bool) { delete this; };
};

// Bidi: reads a message, writes it back, reads the next; a message that ends the call is
// answered after the half-close, twice, the second time as it says.
class BidiCall {
 public:
  BidiCall(TestService::AsyncService* service, ServerCompletionQueue* queue, const bool* stopping)
      : service_(service), queue_(queue), stopping_(stopping), stream_(&context_) {
    service->RequestBidi(&context_, &stream_, queue, queue, &started_);
  }

 private:
  void Started(bool ok) {
    if (!ok || *stopping_) {
      delete this;
      return;
    }
    new BidiCall(service_, queue_, stopping_);
    StartStream(&context_);
    stream_.Read(&message_, &read_);
  }
  void Read(bool ok) {
    if (*stopping_) {
      delete this;
      return;
    }
    if (ending_) {
      if (ok) {
        stream_.Read(&rest_, &read_);
      } else {
        stream_.Write(message_, &written_);
      }
      return;
    }
    if (!ok) {
      stream_.Finish(Status::OK, &finished_);
      return;
    }
    if (message_.end_with() != LAST_WRITE_PLAIN) {
      ending_ = true;
      stream_.Read(&rest_, &read_);
      return;
    }
    stream_.Write(message_, &written_);
  }
  void Written(bool ok) {
    if (*stopping_) {
      delete this;
      return;
    }
    if (!ok) {
      stream_.Finish(Status(StatusCode::UNAVAILABLE, "the stream broke"), &finished_);
      return;
    }
    if (!ending_) {
      stream_.Read(&message_, &read_);
    } else if (message_.end_with() == LAST_WRITE_WRITE_LAST) {
      // The write completes with the status: both tags come.
      ends_ = 2;
      stream_.WriteLast(message_, ::grpc::WriteOptions(), &finished_);
      stream_.Finish(Status::OK, &finished_);
    } else {
      stream_.WriteAndFinish(message_, ::grpc::WriteOptions(), Status::OK, &finished_);
    }
  }
  void Ended() {
    if (--ends_ == 0) delete this;
  }

  TestService::AsyncService* const service_;
  ServerCompletionQueue* const queue_;
  const bool* const stopping_;
  ServerContext context_;
  ::grpc::ServerAsyncReaderWriter<StreamMessage, StreamMessage> stream_;
  StreamMessage message_;
  StreamMessage rest_;   // what comes after a message that ends the call
  bool ending_ = false;  // message_ ends the call: reading on to the half-close
  int ends_ = 1;         // the tags to come once the status is on its way
  Step started_ = [this](bool ok) { Started(ok); };
  Step read_ = [this](bool ok) { Read(ok); };
  Step written_ = [this](bool ok) { Written(ok); };
  Step finished_ = [this](bool) { Ended(); };
};

// For the methods whose stream has no request message.
struct NoRequest {};

}  // namespace

CompletionQueueServing::~CompletionQueueServing() {
  if (poller_.joinable()) Stop();
}

void CompletionQueueServing::AddTo(::grpc::ServerBuilder* builder) {
  queue_ = builder->AddCompletionQueue();
}

void CompletionQueueServing::Run() {
  RequestCalls(queue_.get(), &stopping_);
  poller_ = std::thread([this] {
    void* tag;
    bool ok;
    while (queue_->Next(&tag, &ok)) {
      std::lock_guard<std::mutex> lock(mutex_);
      (*static_cast<Step*>(tag))(ok);
    }
  });
}

void CompletionQueueServing::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    queue_->Shutdown();
  }
  if (poller_.joinable()) poller_.join();
}

void AsyncTestService::RequestCalls(ServerCompletionQueue* queue, const bool* stopping) {
  new EchoCall<AsyncTestService>(this, queue, stopping, observations_);
  new ServerStreamCall(this, queue, stopping);
  new ClientStreamCall(this, queue, stopping);
  new BidiCall(this, queue, stopping);
  new UnimplementedCall<::grpc::ServerAsyncResponseWriter<EchoResponse>, EchoRequest>(
      [this, queue](ServerContext* context, EchoRequest* request,
                    ::grpc::ServerAsyncResponseWriter<EchoResponse>* responder, void* tag) {
        RequestNotOverridden(context, request, responder, queue, queue, tag);
      },
      stopping);
  new UnimplementedCall<::grpc::ServerAsyncWriter<StreamMessage>, StreamRequest>(
      [this, queue](ServerContext* context, StreamRequest* request,
                    ::grpc::ServerAsyncWriter<StreamMessage>* writer, void* tag) {
        RequestNullReactorServerStream(context, request, writer, queue, queue, tag);
      },
      stopping);
  new UnimplementedCall<::grpc::ServerAsyncReader<StreamSummary, StreamMessage>, NoRequest>(
      [this, queue](ServerContext* context, NoRequest*,
                    ::grpc::ServerAsyncReader<StreamSummary, StreamMessage>* reader, void* tag) {
        RequestNullReactorClientStream(context, reader, queue, queue, tag);
      },
      stopping);
  new UnimplementedCall<::grpc::ServerAsyncReaderWriter<StreamMessage, StreamMessage>, NoRequest>(
      [this, queue](ServerContext* context, NoRequest*,
                    ::grpc::ServerAsyncReaderWriter<StreamMessage, StreamMessage>* stream,
                    void* tag) { RequestNullReactorBidi(context, stream, queue, queue, tag); },
      stopping);
}

void MixedTestService::RequestCalls(ServerCompletionQueue* queue, const bool* stopping) {
  new EchoCall<MixedTestService>(this, queue, stopping, observations());
}

}  // namespace notnets::test
