#include "notnets/server.h"

#include <algorithm>
#include <cstring>

#include "pool/process_identity.h"
#include "pool/shared_memory.h"
#include "rpc/buffer_cache.h"
#include "rpc/server_host.h"
#include "rpc/server_runtime.h"

namespace notnets {

bool ServerContext::IsCancelled() const {
  if (cancel_word_ != nullptr && visibility_->Consume(cancel_word_) == call_id_) return true;
  auto now = std::chrono::steady_clock::now();
  if (now >= deadline_) return true;
  if (server_stopping_ != nullptr && server_stopping_->load(std::memory_order_relaxed)) return true;
  if (client_died_ == nullptr) return false;
  // The first look only starts the clock: a short handler never pays for the system calls.
  constexpr auto kInterval = std::chrono::milliseconds(100);
  if (next_client_check_ == std::chrono::steady_clock::time_point()) {
    next_client_check_ = now + kInterval;
  } else if (!client_died_->load(std::memory_order_relaxed) && now >= next_client_check_) {
    next_client_check_ = now + kInterval;
    if (!internal::IsAlive(*client_)) client_died_->store(true, std::memory_order_relaxed);
  }
  return client_died_->load(std::memory_order_relaxed);
}

void ServerResponse::Copy(std::string_view message) {
  if (buffer_.valid()) buffer_ = MessageBuffer();
  inline_size_ = 0;
  if (message.size() <= kInlineCapacity) {
    if (!message.empty()) std::memcpy(inline_, message.data(), message.size());
    inline_size_ = message.size();
    return;
  }
  error_ = cache_->Allocate(message.size(), &buffer_);
  // `message` may be a received message in pool memory; a peer that lied about its blocks can
  // make the two overlap (within its own connection), so copy as if they could.
  if (error_.ok()) std::memmove(buffer_.data(), message.data(), message.size());
}

Status ServerResponse::Allocate(size_t size, MessageBuffer* buffer) {
  return cache_->Allocate(size, buffer);
}

void ServerCall::Finish(const Status& status) { runtime_->FinishAsync(this, status); }

Server::Server(std::unique_ptr<internal::ServerHost> host) : host_(std::move(host)) {}

Server::~Server() = default;

void Server::Shutdown() { host_->Shutdown(); }

void Server::Wait() { host_->Wait(); }

void Server::Drain(std::chrono::milliseconds timeout) { host_->Drain(timeout); }

void Server::BeginDrain() { host_->BeginDrain(); }

int Server::WorkerThreads() const { return static_cast<int>(host_->workers_running()); }

int Server::PeakWorkerThreads() const { return static_cast<int>(host_->workers_peak()); }

bool AllowedCallers::Allows(uint32_t server_uid, uint32_t uid, uint32_t gid) const {
  return anyone || uid == server_uid || std::find(uids.begin(), uids.end(), uid) != uids.end() ||
         std::find(gids.begin(), gids.end(), gid) != gids.end();
}

Status ServerBuilder::BuildAndStart(std::unique_ptr<Server>* server) {
  if (pool_ == nullptr) {
    return Status(StatusCode::INVALID_ARGUMENT, "ServerBuilder needs an attached pool");
  }
  if (min_worker_threads_ < 1 || max_worker_threads_ < 1) {
    return Status(StatusCode::INVALID_ARGUMENT, "worker threads must be in [1, 1024]");
  }
  if (registrants_.size() > internal::kMaxRegistrants) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "a server lets at most " + std::to_string(internal::kMaxRegistrants) +
                      " other users register under its names (ServerBuilder::AllowRegistrantUid)");
  }
  internal::WorkerPolicy workers;
  workers.min_workers = static_cast<uint32_t>(min_worker_threads_);
  workers.max_workers = static_cast<uint32_t>(max_worker_threads_);
  workers.cpus = worker_cpus_;
  internal::ServerPlan plan{
      pool_,
      services_,
      workers,
      max_connections_per_client_,
      replica_ ? internal::ReplicaMode::kReplica : internal::ReplicaMode::kSole,
      allowed_callers_,
      registrants_};
  std::unique_ptr<internal::ServerHost> host;
  Status status = internal::ServerHost::Start(std::move(plan), &host);
  if (status.ok()) server->reset(new Server(std::move(host)));
  return status;
}

}  // namespace notnets
