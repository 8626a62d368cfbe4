#include "grpc_clients.h"

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <mutex>

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
    std::mutex mutex;
    std::condition_variable finished;
    bool done = false;
    Status result;
    CallAsync([&](Status status) {
      std::lock_guard<std::mutex> lock(mutex);
      result = status;
      done = true;
      finished.notify_one();
    });
    std::unique_lock<std::mutex> lock(mutex);
    finished.wait(lock, [&] { return done; });
    return result;
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
};

}  // namespace

std::unique_ptr<EchoClient> MakeGrpcSyncClient(std::shared_ptr<grpc::Channel> channel,
                                               size_t payload_size) {
  return std::make_unique<SyncClient>(channel, payload_size);
}

std::unique_ptr<EchoClient> MakeGrpcCallbackClient(std::shared_ptr<grpc::Channel> channel,
                                                   size_t payload_size) {
  return std::make_unique<CallbackClient>(channel, payload_size);
}

}  // namespace notnets::bench
