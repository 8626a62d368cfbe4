#include "grpc_stream_service.h"

#include <grpcpp/grpcpp.h>

#include "echo.grpc.pb.h"

namespace notnets::bench {
namespace {

// One server stream: writes `count` replies, one at a time, then finishes. Deletes itself.
class StreamWriter final : public grpc::ServerWriteReactor<EchoReply> {
 public:
  explicit StreamWriter(const StreamRequest* request) : remaining_(request->count()) {
    reply_.set_payload(request->payload());
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading"));
      return;
    }
    WriteNext();
  }

  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    if (remaining_ == 0) {
      Finish(grpc::Status::OK);
      return;
    }
    --remaining_;
    StartWrite(&reply_);
  }

  uint64_t remaining_;
  EchoReply reply_;
};

// One bidi stream: reads a request, writes its reply, reads the next, until the client's
// WritesDone. Deletes itself.
class Chatter final : public grpc::ServerBidiReactor<EchoRequest, EchoReply> {
 public:
  Chatter() { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    reply_.set_payload(request_.payload());
    StartWrite(&reply_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  EchoRequest request_;
  EchoReply reply_;
};

class StreamService final : public EchoStreamService::CallbackService {
  grpc::ServerWriteReactor<EchoReply>* Stream(grpc::CallbackServerContext*,
                                              const StreamRequest* request) override {
    return new StreamWriter(request);
  }

  grpc::ServerBidiReactor<EchoRequest, EchoReply>* Chat(grpc::CallbackServerContext*) override {
    return new Chatter;
  }
};

}  // namespace

std::unique_ptr<grpc::Service> MakeStreamService() { return std::make_unique<StreamService>(); }

}  // namespace notnets::bench
