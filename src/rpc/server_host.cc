#include "rpc/server_host.h"

#include <algorithm>

namespace notnets::internal {

namespace {

// How often a rejoined server tries to register its services again while the directory still
// holds entries its peers have not yet judged dead.
constexpr auto kRegisterRetry = std::chrono::milliseconds(50);

}  // namespace

Status ServerHost::Start(ServerPlan plan, std::unique_ptr<ServerHost>* host) {
  std::unique_ptr<ServerHost> started(new ServerHost(std::move(plan)));
  std::unique_ptr<ServerRuntime> runtime;
  Status status = started->StartRuntime(&runtime);
  if (!status.ok()) return status;
  {
    MutexLock lock(&started->runtime_mutex_);
    started->runtime_ = std::move(runtime);
  }
  ServerHost* self = started.get();
  started->rejoin_thread_ = std::thread([self] { self->RejoinLoop(); });
  *host = std::move(started);
  return Status::OK;
}

ServerHost::~ServerHost() {
  Shutdown();
  if (rejoin_thread_.joinable()) rejoin_thread_.join();
}

Status ServerHost::StartRuntime(std::unique_ptr<ServerRuntime>* runtime) {
  return ServerRuntime::Start(plan_.pool, plan_.services, plan_.workers, runtime,
                              plan_.max_connections_per_client, plan_.mode, plan_.callers,
                              plan_.registrants, [this] { Rejoined(); });
}

void ServerHost::Shutdown() {
  {
    MutexLock lock(&signal_mutex_);
    shut_down_ = true;
    signal_.SignalAll();
  }
  MutexLock lock(&runtime_mutex_);
  if (runtime_ != nullptr) runtime_->Shutdown();  // none if the first one did not start
}

void ServerHost::Wait() {
  MutexLock lock(&signal_mutex_);
  while (!shut_down_) signal_.Wait(&signal_mutex_);
}

void ServerHost::BeginDrain() {
  MutexLock lock(&runtime_mutex_);
  draining_ = true;
  runtime_->BeginDrain();
}

void ServerHost::Drain(std::chrono::milliseconds timeout) {
  {
    MutexLock lock(&runtime_mutex_);
    draining_ = true;
    runtime_->Drain(timeout);
  }
  Shutdown();
}

uint32_t ServerHost::workers_running() {
  MutexLock lock(&runtime_mutex_);
  return runtime_->workers_running();
}

uint32_t ServerHost::workers_peak() {
  MutexLock lock(&runtime_mutex_);
  return std::max(replaced_peak_, runtime_->workers_peak());
}

void ServerHost::Rejoined() {
  MutexLock lock(&signal_mutex_);
  rejoined_ = true;
  signal_.SignalAll();
}

void ServerHost::RejoinLoop() {
  while (true) {
    {
      MutexLock lock(&signal_mutex_);
      while (!rejoined_ && !shut_down_) signal_.Wait(&signal_mutex_);
      if (shut_down_) return;
      rejoined_ = false;
    }
    while (true) {
      {
        MutexLock lock(&runtime_mutex_);
        {
          MutexLock signal_lock(&signal_mutex_);
          if (shut_down_) return;
        }
        // Its epoch is over: it stops its workers and forgets its connections, writing nothing.
        runtime_->Shutdown();
        std::unique_ptr<ServerRuntime> fresh;
        if (StartRuntime(&fresh).ok()) {
          replaced_peak_ = std::max(replaced_peak_, runtime_->workers_peak());
          runtime_ = std::move(fresh);
          // A new runtime registers its services open: a draining server keeps them closed.
          if (draining_) runtime_->BeginDrain();
          break;
        }
      }
      MutexLock lock(&signal_mutex_);
      if (!shut_down_) signal_.WaitFor(&signal_mutex_, kRegisterRetry);
      if (shut_down_) return;
    }
  }
}

}  // namespace notnets::internal
