#include "notnets/channel.h"

#include "rpc/client_connection.h"

namespace notnets {

Status Channel::Connect(std::shared_ptr<Pool> pool, std::string_view service,
                        const ChannelOptions& options, std::shared_ptr<Channel>* channel) {
  if (pool == nullptr) {
    return Status(StatusCode::INVALID_ARGUMENT, "Channel::Connect needs an attached pool");
  }
  std::unique_ptr<internal::ClientConnection> connection;
  Status status =
      internal::ClientConnection::Connect(std::move(pool), service, options, &connection);
  if (status.ok()) channel->reset(new Channel(std::move(connection)));
  return status;
}

Channel::Channel(std::unique_ptr<internal::ClientConnection> connection)
    : connection_(std::move(connection)) {}

Channel::~Channel() = default;

const std::string& Channel::service() const { return connection_->service(); }

Status Channel::Call(std::string_view method, std::string_view request, std::string* response,
                     ClientContext* context) {
  ReceivedMessage received;
  Status status = connection_->CallSync(method, {request, nullptr}, context, &received);
  response->assign(received.view());
  return status;
}

Status Channel::Call(std::string_view method, MessageBuffer request, ReceivedMessage* response,
                     ClientContext* context) {
  return connection_->CallSync(method, {{}, &request}, context, response);
}

void Channel::CallAsync(std::string_view method, std::string_view request, ClientContext* context,
                        std::function<void(CallResult)> done) {
  connection_->CallAsync(method, {request, nullptr}, context, std::move(done));
}

void Channel::CallAsync(std::string_view method, MessageBuffer request, ClientContext* context,
                        std::function<void(CallResult)> done) {
  connection_->CallAsync(method, {{}, &request}, context, std::move(done));
}

std::future<CallResult> Channel::CallAsync(std::string_view method, std::string_view request,
                                           ClientContext* context) {
  auto promise = std::make_shared<std::promise<CallResult>>();
  std::future<CallResult> future = promise->get_future();
  CallAsync(method, request, context,
            [promise](CallResult result) { promise->set_value(std::move(result)); });
  return future;
}

Status Channel::AllocateMessage(size_t size, MessageBuffer* buffer) {
  return connection_->cache().Allocate(size, buffer);
}

}  // namespace notnets
