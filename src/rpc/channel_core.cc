#include "rpc/channel_core.h"

#include "channel/wait.h"
#include "pool/pool_access.h"
#include "rpc/channel_janitor.h"

namespace notnets::internal {

ChannelCore::ChannelCore(std::shared_ptr<Pool> pool, std::string service,
                         const ChannelOptions& options, std::unique_ptr<ClientConnection> first)
    : pool_(std::move(pool)), service_(std::move(service)), options_(options) {
  options_.wait_for_service = std::chrono::milliseconds(0);
  current_.store(first.get());
  connections_.push_back(std::move(first));
  ChannelJanitor::Add(this);
}

ChannelCore::~ChannelCore() { ChannelJanitor::Remove(this); }

void ChannelCore::ReleaseGone() {
  // Released without the lock: a release joins the completion thread, whose callbacks may be
  // connecting again. The connections live as long as the channel.
  std::vector<ClientConnection*> connections;
  {
    MutexLock lock(&mutex_);
    for (const std::unique_ptr<ClientConnection>& connection : connections_) {
      connections.push_back(connection.get());
    }
  }
  for (ClientConnection* connection : connections) connection->ReleaseIfServerGone();
}

ClientConnection* ChannelCore::Ready(ClientContext* context, Status* status) {
  // Every call starts here: a process that lost its lease writes nothing more.
  Lease& lease = PoolAccess::mapping(*pool_).lease();
  if (!lease.MayWrite()) {
    *status = lease.FencedStatus();
    return nullptr;
  }
  ClientConnection* connection = current_.load(std::memory_order_acquire);
  if (!connection->ServerGone()) return connection;
  Backoff backoff;
  while (true) {
    *status = Reconnect(connection);
    if (status->ok()) return current_.load(std::memory_order_acquire);
    if (!context->wait_for_ready()) return nullptr;
    if (context->cancel_requested()) {
      *status = Status(StatusCode::CANCELLED, "the call was cancelled while waiting for a server");
      return nullptr;
    }
    if (std::chrono::steady_clock::now() >= context->deadline()) {
      *status = Status(StatusCode::DEADLINE_EXCEEDED,
                       "deadline passed while waiting for a server of service '" + service_ +
                           "' (" + status->error_message() + ")");
      return nullptr;
    }
    backoff.Wait();
  }
}

Status ChannelCore::CallSync(std::string_view method, ClientConnection::Request request,
                             ClientContext* context, ReceivedMessage* response) {
  for (int attempt = 1;; ++attempt) {
    Status status;
    ClientConnection* connection = Ready(context, &status);
    if (connection == nullptr) return status;
    ClientConnection::Fate fate;
    status = connection->CallSync(method, request, context, response, &fate);
    // A call no handler ran may go to the next server; so may an at-most-once call, whose retry
    // the server checks against the pool's window. A zero-copy request left with the first
    // attempt: it cannot go again.
    bool safe = fate.unsent || (fate.server_lost && context->at_most_once());
    bool resendable = request.buffer == nullptr || request.buffer->valid();
    bool again = context->wait_for_ready() || attempt < kMaxTransparentAttempts;
    if (!safe || !resendable || !again) return status;
  }
}

Status ChannelCore::Reconnect(ClientConnection* stale) {
  MutexLock lock(&mutex_);
  if (current_.load(std::memory_order_relaxed) != stale) return Status::OK;
  std::unique_ptr<ClientConnection> fresh;
  Status status = ClientConnection::Connect(pool_, service_, options_, &fresh);
  if (!status.ok()) return status;
  current_.store(fresh.get(), std::memory_order_release);
  connections_.push_back(std::move(fresh));
  return Status::OK;
}

}  // namespace notnets::internal
