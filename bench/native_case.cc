// notnets-native and notnets-native-zerocopy: the native notnets API over a fresh pool. The
// server is one notnets::Service "bench.Echo" with two methods: "Echo" copies the request into
// the response, "EchoZeroCopy" builds the response in place in a pool buffer and sends that
// buffer. The two cases differ in their client, which uses the matching kind of call.
#include <cstring>

#include "case.h"
#include "emergency.h"
#include "notnets/channel.h"
#include "notnets/pool.h"
#include "notnets/server.h"
#include "process.h"

namespace notnets::bench {
namespace {

constexpr char kServiceName[] = "bench.Echo";

Status EchoCopy(ServerContext*, const ReceivedMessage& request, ServerResponse* response) {
  response->Copy(request.view());
  return Status::OK;
}

Status EchoZeroCopy(ServerContext*, const ReceivedMessage& request, ServerResponse* response) {
  MessageBuffer buffer;
  Status status = response->Allocate(request.size(), &buffer);
  if (!status.ok()) return status;
  std::memcpy(buffer.data(), request.data(), request.size());
  buffer.set_size(request.size());
  response->Send(std::move(buffer));
  return Status::OK;
}

Status CheckReply(std::string_view reply) {
  if (reply == kEchoPayload) return Status::OK;
  return Status(StatusCode::DATA_LOSS, "reply differs from the request");
}

// Calls "Echo" with copying calls.
class CopyClient : public EchoClient {
 public:
  explicit CopyClient(std::shared_ptr<Channel> channel) : channel_(std::move(channel)) {}

  Status Call() override {
    ClientContext context;
    Status status = channel_->Call("Echo", kEchoPayload, &response_, &context);
    return status.ok() ? CheckReply(response_) : status;
  }

 private:
  std::shared_ptr<Channel> channel_;
  std::string response_;
};

// Calls "EchoZeroCopy" with zero-copy calls: the request is built in a pool buffer and the reply
// is read where it lies in the pool.
class ZeroCopyClient : public EchoClient {
 public:
  explicit ZeroCopyClient(std::shared_ptr<Channel> channel) : channel_(std::move(channel)) {}

  Status Call() override {
    MessageBuffer request;
    Status status = channel_->AllocateMessage(kEchoPayload.size(), &request);
    if (!status.ok()) return status;
    std::memcpy(request.data(), kEchoPayload.data(), kEchoPayload.size());
    request.set_size(kEchoPayload.size());
    ClientContext context;
    ReceivedMessage response;
    status = channel_->Call("EchoZeroCopy", std::move(request), &response, &context);
    return status.ok() ? CheckReply(response.view()) : status;
  }

 private:
  std::shared_ptr<Channel> channel_;
};

class NativeCase : public Case {
 public:
  explicit NativeCase(bool zero_copy) : zero_copy_(zero_copy) {}

  ~NativeCase() override {
    if (pool_ != nullptr) Pool::Remove(pool_->path());
  }

  // Creates the pool; the server gets its path.
  Status Setup(const CaseOptions& options, std::vector<std::string>* server_args) override {
    Status status = Pool::Create(options.pool_name, PoolOptions(), &pool_);
    if (!status.ok()) return status;
    remove_on_emergency_ = std::make_unique<EmergencyUnlink>(pool_->path());
    server_args->push_back(pool_->path());
    return Status::OK;
  }

  Status Serve(const std::vector<std::string>& server_args, const ReadyCallback& ready) override {
    if (server_args.size() != 1) {
      return Status(StatusCode::INVALID_ARGUMENT, "expected the pool's path");
    }
    std::shared_ptr<Pool> pool;
    Status status = Pool::Attach(server_args[0], &pool);
    if (!status.ok()) return status;
    Service service(kServiceName);
    service.AddMethod("Echo", EchoCopy);
    service.AddMethod("EchoZeroCopy", EchoZeroCopy);
    std::unique_ptr<Server> server;
    status = ServerBuilder(pool).RegisterService(&service).BuildAndStart(&server);
    if (!status.ok()) return status;
    ready("");
    WaitForStopSignal();
    server->Shutdown();
    return Status::OK;
  }

  Status Connect(std::string_view, std::unique_ptr<EchoClient>* client) override {
    ChannelOptions options;
    options.wait_for_service = std::chrono::seconds(5);
    std::shared_ptr<Channel> channel;
    Status status = Channel::Connect(pool_, kServiceName, options, &channel);
    if (!status.ok()) return status;
    if (zero_copy_) {
      *client = std::make_unique<ZeroCopyClient>(std::move(channel));
    } else {
      *client = std::make_unique<CopyClient>(std::move(channel));
    }
    return Status::OK;
  }

 private:
  const bool zero_copy_;
  std::shared_ptr<Pool> pool_;
  std::unique_ptr<EmergencyUnlink> remove_on_emergency_;
};

const CaseRegistration kCopyRegistration(20, "notnets-native",
                                         [] { return std::make_unique<NativeCase>(false); });
const CaseRegistration kZeroCopyRegistration(30, "notnets-native-zerocopy",
                                             [] { return std::make_unique<NativeCase>(true); });

}  // namespace
}  // namespace notnets::bench
