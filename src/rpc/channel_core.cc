#include "rpc/channel_core.h"

#include <time.h>

#include <random>
#include <thread>

#include "channel/wait.h"
#include "pool/allocator.h"
#include "pool/directory.h"
#include "pool/pool_access.h"
#include "rpc/channel_janitor.h"

namespace notnets::internal {

namespace {

// A cheap random number per thread for the two choices: quality hardly matters, cost does.
uint32_t NextRandom() {
  static thread_local uint64_t state = std::random_device()() | 1;
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return static_cast<uint32_t>(state >> 32);
}

bool Usable(ClientConnection* connection, bool open_only) {
  return !connection->ServerGone() && (!open_only || connection->ReplicaOpen());
}

int64_t CoarseNowNs() {
  struct timespec now {};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

}  // namespace

ChannelCore::ChannelCore(std::shared_ptr<Pool> pool, std::string service,
                         const ChannelOptions& options, std::unique_ptr<ClientConnection> first)
    : pool_(std::move(pool)), service_(std::move(service)), options_(options) {
  options_.wait_for_service = std::chrono::milliseconds(0);
  first->set_resender(this);
  current_.store(first.get());
  live_[0].store(first.get());
  live_count_.store(1, std::memory_order_release);
  {
    MutexLock lock(&mutex_);
    connections_.push_back(std::move(first));
  }
  Refresh(false);
  ChannelJanitor::Add(this);
}

ChannelCore::~ChannelCore() {
  ChannelJanitor::Remove(this);
  closing_.store(true);
  while (resending_.load() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Destroyed here, while the members a completion thread's late Resend reads are still there.
  std::vector<std::unique_ptr<ClientConnection>> connections;
  {
    MutexLock lock(&mutex_);
    connections.swap(connections_);
  }
}

void ChannelCore::ReleaseGone() {
  Refresh(false);
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

ClientConnection* ChannelCore::Lighter(ClientConnection* a, ClientConnection* b) {
  uint32_t workers_a = 1, busy_a = 0, workers_b = 1, busy_b = 0;
  a->ReadLoad(&workers_a, &busy_a);
  b->ReadLoad(&workers_b, &busy_b);
  uint64_t work_a = uint64_t{a->Outstanding()} + busy_a + 1;
  uint64_t work_b = uint64_t{b->Outstanding()} + busy_b + 1;
  uint64_t free_a = uint64_t{workers_a} - busy_a + 1;
  uint64_t free_b = uint64_t{workers_b} - busy_b + 1;
  // work_a / free_a <= work_b / free_b, without dividing.
  return work_a * free_b <= work_b * free_a ? a : b;
}

ClientConnection* ChannelCore::Pick(bool open_only) {
  uint32_t count = live_count_.load(std::memory_order_acquire);
  if (count == 0) return nullptr;
  if (count == 1) {
    ClientConnection* only = live_[0].load(std::memory_order_acquire);
    return Usable(only, open_only) ? only : nullptr;
  }
  uint32_t first = NextRandom() % count;
  uint32_t second = NextRandom() % (count - 1);
  if (second >= first) ++second;
  ClientConnection* a = live_[first].load(std::memory_order_acquire);
  ClientConnection* b = live_[second].load(std::memory_order_acquire);
  bool a_usable = Usable(a, open_only);
  bool b_usable = Usable(b, open_only);
  if (a_usable && b_usable) return Lighter(a, b);
  if (a_usable) return a;
  if (b_usable) return b;
  for (uint32_t i = 0; i < count; ++i) {
    ClientConnection* other = live_[i].load(std::memory_order_acquire);
    if (Usable(other, open_only)) return other;
  }
  return nullptr;
}

ClientConnection* ChannelCore::Ready(ClientContext* context, Status* status) {
  // Every call starts here: a process that lost its lease writes nothing more, and one whose
  // pool file was shortened has nobody to call.
  const PoolMapping& mapping = PoolAccess::mapping(*pool_);
  if (mapping.shortened()) {
    *status = mapping.ShortenedStatus();
    return nullptr;
  }
  Lease& lease = mapping.lease();
  if (!lease.MayWrite()) {
    *status = lease.FencedStatus();
    return nullptr;
  }
  ClientConnection* connection = Pick(true);
  if (connection != nullptr) return connection;
  // Every replica drains or shuts down: they still serve while no other is there, and the
  // directory is looked at again at most every kRefreshInterval.
  connection = Pick(false);
  if (connection != nullptr && CoarseNowNs() < next_refresh_ns_.load(std::memory_order_relaxed)) {
    return connection;
  }
  Backoff backoff;
  while (true) {
    *status = Refresh(true);
    if (status->ok()) {
      connection = Pick(false);
      if (connection != nullptr) return connection;
      *status = EveryServerGone();
    }
    if (!context->wait_for_ready()) return nullptr;
    if (closing_.load(std::memory_order_relaxed)) {
      // Only a call being sent again waits here then (Resend).
      *status =
          Status(StatusCode::CANCELLED, "the channel to service '" + service_ + "' was destroyed");
      return nullptr;
    }
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

Status ChannelCore::EveryServerGone() const {
  // Say why, when a server refused this channel's connection (at its limit, say).
  uint32_t count = live_count_.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < count; ++i) {
    ClientConnection* connection = live_[i].load(std::memory_order_acquire);
    if (connection == nullptr) continue;
    Status why = connection->GoneStatus();
    if (!why.ok()) return why;
  }
  return Status(StatusCode::UNAVAILABLE,
                "every server of service '" + service_ + "' went away; try again");
}

Status ChannelCore::CallSync(std::string_view method, ClientConnection::Request request,
                             ClientContext* context, ReceivedMessage* response) {
  for (int attempt = 1;; ++attempt) {
    Status status;
    ClientConnection* connection = Ready(context, &status);
    if (connection == nullptr) return status;
    ClientConnection::Fate fate;
    status = connection->CallSync(method, request, context, response, &fate);
    // A call no handler ran may go to another server; so may an at-most-once call, whose retry
    // the server checks against the pool's window. A zero-copy request left with the first
    // attempt: it cannot go again.
    bool safe = fate.unsent || (fate.server_lost && context->at_most_once());
    bool resendable = request.buffer == nullptr || request.buffer->valid();
    if (!safe || !resendable || !MayTryAgain(context, attempt)) return status;
  }
}

void ChannelCore::CallAsync(std::string_view method, ClientConnection::Request request,
                            ClientContext* context, CallCallback done,
                            std::chrono::nanoseconds inline_wait, int attempt) {
  for (;; ++attempt) {
    Status status;
    ClientConnection* connection = Ready(context, &status);
    if (connection == nullptr) {
      done(CallResult{status, ReceivedMessage()});
      return;
    }
    if (connection->CallAsync(method, request, context, std::move(done), inline_wait, attempt,
                              &status)) {
      return;
    }
    // Its server went away before the call was sent: as in CallSync.
    bool resendable = request.buffer == nullptr || request.buffer->valid();
    if (!resendable || !MayTryAgain(context, attempt)) {
      done(CallResult{status, ReceivedMessage()});
      return;
    }
  }
}

void ChannelCore::Resend(std::string_view method, std::string_view request, ClientContext* context,
                         CallCallback done, int attempt, const Status& failure) {
  if (!MayTryAgain(context, attempt)) {
    done(CallResult{failure, ReceivedMessage()});
    return;
  }
  resending_.fetch_add(1);
  if (closing_.load()) {
    resending_.fetch_sub(1);
    done(CallResult{
        Status(StatusCode::CANCELLED, "the channel to service '" + service_ + "' was destroyed"),
        ReceivedMessage()});
    return;
  }
  CallAsync(method, {request, nullptr}, context, std::move(done), std::chrono::nanoseconds(0),
            attempt + 1);
  resending_.fetch_sub(1);
}

Status ChannelCore::Refresh(bool reconnect) {
  MutexLock lock(&mutex_);
  if (!reconnect) {
    // A channel whose servers all went connects again at its next call, not before: an idle
    // channel holds no pool memory for a server it may never call.
    bool present = false;
    for (const std::unique_ptr<ClientConnection>& connection : connections_) {
      present = present || !connection->ServerGone();
    }
    if (!present) return Status::OK;
  }
  next_refresh_ns_.store(CoarseNowNs() + std::chrono::nanoseconds(kRefreshInterval).count(),
                         std::memory_order_relaxed);
  PoolMapping* mapping = &PoolAccess::mapping(*pool_);
  Allocator allocator(mapping);
  Directory directory(mapping, &allocator);
  std::vector<ServiceView> views;
  Status status = directory.LookupAll(service_, &views);
  std::vector<ClientConnection*> live;
  for (const ServiceView& view : views) {
    if (live.size() == kMaxReplicas) break;
    ClientConnection* found = nullptr;
    bool known = false;
    for (const std::unique_ptr<ClientConnection>& connection : connections_) {
      const ServiceRef& ref = connection->replica();
      if (ref.index != view.ref.index || ref.generation != view.ref.generation) continue;
      known = true;
      if (!connection->ServerGone()) {
        found = connection.get();
        break;
      }
    }
    // A replica that refused or closed this channel's connection is asked again only by a call.
    if (found == nullptr && known && !reconnect) continue;
    if (found == nullptr) {
      std::unique_ptr<ClientConnection> fresh;
      Status connected = ClientConnection::ConnectTo(pool_, service_, view, options_, &fresh);
      if (!connected.ok()) {
        status = connected;
        continue;
      }
      found = fresh.get();
      found->set_resender(this);
      connections_.push_back(std::move(fresh));
    }
    if (found->ReplicaOpen()) live.push_back(found);
  }
  if (live.empty()) {
    // No replica takes new calls: those draining or shutting down still answer until they go.
    for (const std::unique_ptr<ClientConnection>& connection : connections_) {
      if (live.size() < kMaxReplicas && !connection->ServerGone()) {
        live.push_back(connection.get());
      }
    }
  }
  if (live.empty()) return status.ok() ? EveryServerGone() : status;
  for (size_t i = 0; i < live.size(); ++i) live_[i].store(live[i], std::memory_order_release);
  live_count_.store(static_cast<uint32_t>(live.size()), std::memory_order_release);
  current_.store(live[0], std::memory_order_release);
  return Status::OK;
}

}  // namespace notnets::internal
