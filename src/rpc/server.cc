#include "notnets/server.h"

#include <cstring>

#include "pool/shared_memory.h"
#include "rpc/buffer_cache.h"
#include "rpc/server_runtime.h"

namespace notnets {

bool ServerContext::IsCancelled() const {
  return (cancel_word_ != nullptr && visibility_->Consume(cancel_word_) == call_id_) ||
         (client_died_ != nullptr && client_died_->load(std::memory_order_relaxed)) ||
         std::chrono::steady_clock::now() >= deadline_;
}

void ServerResponse::Copy(std::string_view message) {
  buffer_ = MessageBuffer();
  inline_size_ = 0;
  if (message.size() <= kInlineCapacity) {
    std::memcpy(inline_, message.data(), message.size());
    inline_size_ = message.size();
    return;
  }
  error_ = cache_->Allocate(message.size(), &buffer_);
  if (error_.ok()) std::memcpy(buffer_.data(), message.data(), message.size());
}

Status ServerResponse::Allocate(size_t size, MessageBuffer* buffer) {
  return cache_->Allocate(size, buffer);
}

Server::Server(std::unique_ptr<internal::ServerRuntime> runtime) : runtime_(std::move(runtime)) {}

Server::~Server() = default;

void Server::Shutdown() { runtime_->Shutdown(); }

void Server::Wait() { runtime_->Wait(); }

Status ServerBuilder::BuildAndStart(std::unique_ptr<Server>* server) {
  if (pool_ == nullptr) {
    return Status(StatusCode::INVALID_ARGUMENT, "ServerBuilder needs an attached pool");
  }
  std::unique_ptr<internal::ServerRuntime> runtime;
  Status status = internal::ServerRuntime::Start(pool_, services_, worker_threads_, &runtime);
  if (status.ok()) server->reset(new Server(std::move(runtime)));
  return status;
}

}  // namespace notnets
