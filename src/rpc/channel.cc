#include "notnets/channel.h"

#include "rpc/channel_access.h"
#include "rpc/channel_core.h"

namespace notnets {

Status Channel::Connect(std::shared_ptr<Pool> pool, std::string_view service,
                        const ChannelOptions& options, std::shared_ptr<Channel>* channel) {
  if (pool == nullptr) {
    return Status(StatusCode::INVALID_ARGUMENT, "Channel::Connect needs an attached pool");
  }
  std::unique_ptr<internal::ClientConnection> connection;
  Status status = internal::ClientConnection::Connect(pool, service, options, &connection);
  if (status.ok()) {
    channel->reset(new Channel(std::make_unique<internal::ChannelCore>(
        std::move(pool), std::string(service), options, std::move(connection))));
  }
  return status;
}

Channel::Channel(std::unique_ptr<internal::ChannelCore> core) : core_(std::move(core)) {}

Channel::~Channel() = default;

const std::string& Channel::service() const { return core_->service(); }

Status Channel::Call(std::string_view method, std::string_view request, std::string* response,
                     ClientContext* context) {
  ReceivedMessage received;
  Status status = core_->CallSync(method, {request, nullptr}, context, &received);
  response->assign(received.view());
  return status;
}

Status Channel::Call(std::string_view method, MessageBuffer request, ReceivedMessage* response,
                     ClientContext* context) {
  return core_->CallSync(method, {{}, &request}, context, response);
}

void Channel::CallAsync(std::string_view method, std::string_view request, ClientContext* context,
                        std::function<void(CallResult)> done) {
  CallAsync(method, request, context, CallCallback(std::move(done)));
}

void Channel::CallAsync(std::string_view method, MessageBuffer request, ClientContext* context,
                        std::function<void(CallResult)> done) {
  CallAsync(method, std::move(request), context, CallCallback(std::move(done)));
}

void Channel::CallAsync(std::string_view method, std::string_view request, ClientContext* context,
                        CallCallback done) {
  internal::ChannelAccess::CallAsync(this, method, request, context, std::move(done),
                                     std::chrono::nanoseconds(0));
}

void Channel::CallAsync(std::string_view method, MessageBuffer request, ClientContext* context,
                        CallCallback done) {
  internal::ChannelAccess::CallAsync(this, method, std::move(request), context, std::move(done),
                                     std::chrono::nanoseconds(0));
}

bool Channel::Serves(std::string_view method) {
  // Only asks, never waits for a server: the default context says so (and is costly to build
  // once per call on a hot path).
  static thread_local ClientContext no_wait;
  Status status;
  internal::ClientConnection* connection = core_->Ready(&no_wait, &status);
  return connection != nullptr && connection->HasMethod(method);
}

std::future<CallResult> Channel::CallAsync(std::string_view method, std::string_view request,
                                           ClientContext* context) {
  auto promise = std::make_shared<std::promise<CallResult>>();
  std::future<CallResult> future = promise->get_future();
  CallAsync(method, request, context,
            CallCallback([promise](CallResult result) { promise->set_value(std::move(result)); }));
  return future;
}

Status Channel::AllocateMessage(size_t size, MessageBuffer* buffer) {
  return core_->current()->cache().Allocate(size, buffer);
}

}  // namespace notnets

namespace notnets::internal {

void ChannelAccess::CallAsync(Channel* channel, std::string_view method, std::string_view request,
                              ClientContext* context, CallCallback done,
                              std::chrono::nanoseconds inline_wait) {
  channel->core_->CallAsync(method, {request, nullptr}, context, std::move(done), inline_wait);
}

void ChannelAccess::CallAsync(Channel* channel, std::string_view method, MessageBuffer request,
                              ClientContext* context, CallCallback done,
                              std::chrono::nanoseconds inline_wait) {
  channel->core_->CallAsync(method, {{}, &request}, context, std::move(done), inline_wait);
}

bool ChannelAccess::Poll(Channel* channel) {
  ClientConnection* connection = channel->core_->current();
  return connection != nullptr && connection->Poll();
}

}  // namespace notnets::internal
