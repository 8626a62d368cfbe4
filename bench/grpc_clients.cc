#include "grpc_clients.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <string>

#include "echo.grpc.pb.h"
#include "payload.h"

namespace notnets::bench {
namespace {

// The notnets status with the same code and message.
Status FromGrpc(const grpc::Status& status) {
  return Status(static_cast<StatusCode>(status.error_code()), status.error_message());
}

// Calls through a blocking stub.
class SyncClient : public EchoClient {
 public:
  SyncClient(const std::shared_ptr<grpc::Channel>& channel, size_t size)
      : stub_(EchoService::NewStub(channel)), payload_(size) {}

  Status Call() override {
    grpc::ClientContext context;
    std::string_view bytes = payload_.Next();
    request_.set_payload(bytes.data(), bytes.size());
    EchoReply reply;
    grpc::Status status = stub_->Echo(&context, request_, &reply);
    if (!status.ok()) return FromGrpc(status);
    return payload_.Check(reply.payload());
  }

 private:
  std::unique_ptr<EchoService::Stub> stub_;
  Payload payload_;
  EchoRequest request_;
};

// Calls through the callback stub; Call waits for the callback.
class CallbackClient : public EchoClient {
 public:
  CallbackClient(const std::shared_ptr<grpc::Channel>& channel, size_t size)
      : stub_(EchoService::NewStub(channel)), payload_(size) {}

  Status Call() override {
    int before = finished_.load(std::memory_order_acquire);
    CallAsync([this](Status status) {
      result_ = std::move(status);
      finished_.fetch_add(1, std::memory_order_release);
      finished_.notify_one();
    });
    finished_.wait(before, std::memory_order_acquire);
    return result_;
  }

  bool SupportsAsync() const override { return true; }

  void CallAsync(std::function<void(Status)> done) override {
    // Everything the call needs until its callback has run.
    struct Outstanding {
      grpc::ClientContext context;
      EchoRequest request;
      EchoReply reply;
      uint64_t number;
    };
    auto* call = new Outstanding;
    std::string_view bytes = payload_.Next();
    call->request.set_payload(bytes.data(), bytes.size());
    call->number = payload_.number();
    stub_->async()->Echo(&call->context, &call->request, &call->reply,
                         [this, call, done = std::move(done)](grpc::Status status) {
                           Status result = status.ok() ? payload_.CheckNumber(call->reply.payload(),
                                                                              call->number)
                                                       : FromGrpc(status);
                           delete call;
                           done(result);
                         });
  }

 private:
  std::unique_ptr<EchoService::Stub> stub_;
  Payload payload_;
  // Call's hand-off from the callback's thread: a count the caller sleeps on (a futex), not a
  // condition variable notified under its mutex, whose woken caller would at once block on that
  // mutex again. Members, not locals: the callback may still notify after Call returned.
  std::atomic<int> finished_{0};
  Status result_;
};

// Calls through the completion-queue stub: AsyncEcho on the client's own queue, then Next.
class CompletionQueueClient : public EchoClient {
 public:
  CompletionQueueClient(const std::shared_ptr<grpc::Channel>& channel, size_t size)
      : stub_(EchoService::NewStub(channel)), payload_(size) {}

  ~CompletionQueueClient() override {
    queue_.Shutdown();
    void* tag;
    bool ok;
    while (queue_.Next(&tag, &ok)) {
    }
  }

  Status Call() override {
    grpc::ClientContext context;
    std::string_view bytes = payload_.Next();
    request_.set_payload(bytes.data(), bytes.size());
    EchoReply reply;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<EchoReply>> call =
        stub_->AsyncEcho(&context, request_, &queue_);
    call->Finish(&reply, &status, &context);
    void* tag = nullptr;
    bool ok = false;
    if (!queue_.Next(&tag, &ok) || tag != &context || !ok) {
      return Status(StatusCode::INTERNAL, "the completion queue returned no finished call");
    }
    if (!status.ok()) return FromGrpc(status);
    return payload_.Check(reply.payload());
  }

 private:
  std::unique_ptr<EchoService::Stub> stub_;
  grpc::CompletionQueue queue_;
  Payload payload_;
  EchoRequest request_;
};

// Reads server streams through a blocking stub, one reply per Call; opens the next stream when
// one ends.
class ServerStreamClient : public EchoClient {
 public:
  ServerStreamClient(const std::shared_ptr<grpc::Channel>& channel, size_t size)
      : stub_(EchoStreamService::NewStub(channel)), payload_(size) {
    std::string_view bytes = payload_.Next();
    request_.set_payload(bytes.data(), bytes.size());
    request_.set_count(kStreamMessages);
  }

  // Cancels the open stream: the replies it has left are not measured.
  ~ServerStreamClient() override {
    if (reader_ == nullptr) return;
    context_->TryCancel();
    reader_->Finish();
  }

  Status Call() override {
    if (reader_ == nullptr) Open();
    if (!reader_->Read(&reply_)) {
      Status status = Close();
      if (!status.ok()) return status;
      Open();
      if (!reader_->Read(&reply_)) return Close();
    }
    ++received_;
    return payload_.Check(reply_.payload());
  }

 private:
  void Open() {
    context_ = std::make_unique<grpc::ClientContext>();
    reader_ = stub_->Stream(context_.get(), request_);
    received_ = 0;
  }

  // Finishes the stream that ended; an error unless it ended OK after all its replies.
  Status Close() {
    grpc::Status status = reader_->Finish();
    reader_.reset();
    if (!status.ok()) return FromGrpc(status);
    if (received_ != kStreamMessages) {
      return Status(StatusCode::DATA_LOSS, "a stream ended OK after " + std::to_string(received_) +
                                               " of " + std::to_string(kStreamMessages) +
                                               " replies");
    }
    return Status::OK;
  }

  std::unique_ptr<EchoStreamService::Stub> stub_;
  Payload payload_;
  StreamRequest request_;
  EchoReply reply_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<EchoReply>> reader_;
  uint64_t received_ = 0;
};

// Keeps one bidi stream open through a blocking stub; each Call writes a request and reads its
// reply.
class BidiStreamClient : public EchoClient {
 public:
  BidiStreamClient(const std::shared_ptr<grpc::Channel>& channel, size_t size)
      : stub_(EchoStreamService::NewStub(channel)), payload_(size) {}

  ~BidiStreamClient() override {
    if (stream_ == nullptr) return;
    stream_->WritesDone();
    stream_->Finish();
  }

  Status Call() override {
    if (stream_ == nullptr) stream_ = stub_->Chat(&context_);
    std::string_view bytes = payload_.Next();
    request_.set_payload(bytes.data(), bytes.size());
    if (!stream_->Write(request_) || !stream_->Read(&reply_)) {
      grpc::Status status = stream_->Finish();
      stream_.reset();
      if (!status.ok()) return FromGrpc(status);
      return Status(StatusCode::DATA_LOSS, "the server ended the stream before its reply");
    }
    return payload_.Check(reply_.payload());
  }

 private:
  std::unique_ptr<EchoStreamService::Stub> stub_;
  Payload payload_;
  EchoRequest request_;
  EchoReply reply_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<EchoRequest, EchoReply>> stream_;
};

}  // namespace

std::unique_ptr<EchoClient> MakeGrpcClient(GrpcApi api, std::shared_ptr<grpc::Channel> channel,
                                           size_t payload_size) {
  switch (api) {
    case GrpcApi::kSync:
      return std::make_unique<SyncClient>(channel, payload_size);
    case GrpcApi::kCallback:
      return std::make_unique<CallbackClient>(channel, payload_size);
    case GrpcApi::kCompletionQueue:
      return std::make_unique<CompletionQueueClient>(channel, payload_size);
    case GrpcApi::kServerStream:
      return std::make_unique<ServerStreamClient>(channel, payload_size);
    case GrpcApi::kBidiStream:
      break;
  }
  return std::make_unique<BidiStreamClient>(channel, payload_size);
}

}  // namespace notnets::bench
