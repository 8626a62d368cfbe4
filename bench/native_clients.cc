#include "native_clients.h"

#include <cstring>

#include "notnets/channel.h"
#include "payload.h"

namespace notnets::bench {
namespace {

// Calls "Echo" with copying calls, synchronous or asynchronous.
class CopyClient : public EchoClient {
 public:
  CopyClient(std::shared_ptr<Channel> channel, size_t size)
      : channel_(std::move(channel)), payload_(size) {}

  Status Call() override {
    ClientContext context;
    Status status = channel_->Call("Echo", payload_.Next(), &response_, &context);
    return status.ok() ? payload_.Check(response_) : status;
  }

  bool SupportsAsync() const override { return true; }

  void CallAsync(std::function<void(Status)> done) override {
    auto context = std::make_shared<ClientContext>();
    std::string_view request = payload_.Next();
    uint64_t number = payload_.number();
    // A CallCallback holds these captures without allocating.
    channel_->CallAsync(
        "Echo", request, context.get(),
        CallCallback([this, context, number, done = std::move(done)](CallResult result) {
          done(result.status.ok() ? payload_.CheckNumber(result.response.view(), number)
                                  : result.status);
        }));
  }

 private:
  std::shared_ptr<Channel> channel_;
  Payload payload_;
  std::string response_;
};

// Calls "EchoZeroCopy" or "EchoStamp" with zero-copy calls: the request is built in a pool
// buffer and the reply is read where it lies in the pool.
class ZeroCopyClient : public EchoClient {
 public:
  ZeroCopyClient(std::shared_ptr<Channel> channel, size_t size, bool stamps_only)
      : channel_(std::move(channel)), payload_(size), stamps_only_(stamps_only) {}

  Status Call() override {
    MessageBuffer request;
    Status status = channel_->AllocateMessage(payload_.size(), &request);
    if (!status.ok()) return status;
    std::string_view bytes = payload_.Next();
    if (stamps_only_) {
      payload_.WriteStamps(request.data());
    } else {
      std::memcpy(request.data(), bytes.data(), bytes.size());
    }
    request.set_size(bytes.size());
    ClientContext context;
    ReceivedMessage response;
    status = channel_->Call(stamps_only_ ? "EchoStamp" : "EchoZeroCopy", std::move(request),
                            &response, &context);
    if (!status.ok()) return status;
    return stamps_only_ ? payload_.CheckStamps(response.view()) : payload_.Check(response.view());
  }

 private:
  std::shared_ptr<Channel> channel_;
  Payload payload_;
  const bool stamps_only_;
};

}  // namespace

Status ConnectNativeClient(std::shared_ptr<Pool> pool, NativeCallKind kind,
                           const ClientOptions& options, std::unique_ptr<EchoClient>* client) {
  ChannelOptions channel_options;
  channel_options.wait_for_service = std::chrono::seconds(5);
  // An idle connection needs no room for many calls: the smallest rings keep 10,000 of them
  // within a pool of a few hundred MiB.
  if (options.idle) channel_options.max_outstanding_calls = 2;
  std::shared_ptr<Channel> channel;
  Status status = Channel::Connect(std::move(pool), kNativeServiceName, channel_options, &channel);
  if (!status.ok()) return status;
  if (kind == NativeCallKind::kCopy) {
    *client = std::make_unique<CopyClient>(std::move(channel), options.payload_size);
  } else {
    *client = std::make_unique<ZeroCopyClient>(std::move(channel), options.payload_size,
                                               kind == NativeCallKind::kStamp);
  }
  return Status::OK;
}

}  // namespace notnets::bench
