// What a Channel is made of: a connection to each live replica of its service, the choice among
// them for each call, and the connections it had to replicas that have gone.
#ifndef NOTNETS_RPC_CHANNEL_CORE_H_
#define NOTNETS_RPC_CHANNEL_CORE_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "notnets/channel.h"
#include "rpc/client_connection.h"
#include "rpc/mutex.h"

namespace notnets::internal {

class ChannelCore final : public ClientConnection::Resender {
 public:
  // Most replicas of one service a channel spreads its calls over.
  static constexpr uint32_t kMaxReplicas = 64;
  // The longest a call that finds no usable replica waits for another look at the directory:
  // without it every such call would scan the directory.
  static constexpr std::chrono::milliseconds kRefreshInterval{1};

  // Registers with the ChannelJanitor, which calls ReleaseGone from its own thread, and connects
  // to the service's other replicas beside `first`.
  ChannelCore(std::shared_ptr<Pool> pool, std::string service, const ChannelOptions& options,
              std::unique_ptr<ClientConnection> first);
  // Waits for the calls being sent again (Resend), whose callbacks then run, and destroys the
  // connections, which complete their other calls with CANCELLED.
  ~ChannelCore();

  // The connection for a new call: with one replica, its connection while its server is there;
  // with several, the lighter of two chosen at random (Lighter). Without one, looks at the
  // directory again (connecting to new replicas) and, when no replica is there, fails with
  // UNAVAILABLE at once, or, for a wait-for-ready call, waits for one within the call's deadline.
  ClientConnection* Ready(ClientContext* context, Status* status);

  // Runs a call on the Ready connection. A call that failed because the server went away before
  // reading it goes again to another replica or the service's next server (it cannot have run),
  // and so does an at-most-once call: a few times, or until its deadline for a wait-for-ready
  // call.
  static constexpr int kMaxTransparentAttempts = 3;
  Status CallSync(std::string_view method, ClientConnection::Request request,
                  ClientContext* context, ReceivedMessage* response);

  // Starts an asynchronous call on the Ready connection, as attempt `attempt`. A call whose
  // server is found gone before it is sent goes to another at once; one whose server goes away
  // later without reading it (or an at-most-once one) comes back through Resend. Both follow
  // CallSync's rules.
  void CallAsync(std::string_view method, ClientConnection::Request request, ClientContext* context,
                 CallCallback done, std::chrono::nanoseconds inline_wait, int attempt = 1);
  // ClientConnection::Resender: sends the call again if CallSync would (MayTryAgain), else
  // completes it with `failure`; with CANCELLED once the channel is being destroyed.
  void Resend(std::string_view method, std::string_view request, ClientContext* context,
              CallCallback done, int attempt, const Status& failure) override;

  // A live connection (for buffers: any connection's cache serves any call).
  ClientConnection* current() const { return current_.load(std::memory_order_acquire); }
  const std::string& service() const { return service_; }

  // Connects to replicas that registered since the last look, and gives back the pool memory of
  // every connection whose server has gone and that no call uses
  // (ClientConnection::ReleaseIfServerGone): the next call then connects again.
  void ReleaseGone() NOTNETS_EXCLUDES(mutex_);

 private:
  // A usable connection from the live set, or null: `open_only` leaves out replicas that are
  // draining or shutting down.
  ClientConnection* Pick(bool open_only);
  // Of two replicas, the one with less outstanding work for its free workers: this process's
  // calls on it plus its busy workers, over its free workers plus one.
  static ClientConnection* Lighter(ClientConnection* a, ClientConnection* b);
  // Rebuilds the live set from the directory, connecting to new replicas: the open replicas, or,
  // when none is open, those still there while they drain or shut down. With `reconnect` (a
  // call's look), also connects again to a replica whose connection this channel lost (refused
  // at a limit, closed over a violation); the janitor's looks leave that to the next call, and
  // change nothing while every server the channel knew has gone.
  Status Refresh(bool reconnect) NOTNETS_EXCLUDES(mutex_);
  // The status of a call that found the replicas it knew gone and no other.
  Status EveryServerGone() const;
  // True if a call whose attempt `attempt` never ran may be sent again: a few times, or any
  // number within its deadline for a wait-for-ready call.
  static bool MayTryAgain(ClientContext* context, int attempt) {
    return context->wait_for_ready() || attempt < kMaxTransparentAttempts;
  }

  std::shared_ptr<Pool> pool_;
  std::string service_;
  ChannelOptions options_;
  std::atomic<ClientConnection*> current_;
  // The live set that calls choose from: live_[0, live_count_). Rewritten under `mutex_`; a
  // reader that sees a mix of old and new entries still finds connections that live as long as
  // the channel.
  std::atomic<uint32_t> live_count_{0};
  std::atomic<ClientConnection*> live_[kMaxReplicas] = {};
  // CLOCK_MONOTONIC_COARSE time before which calls to draining replicas do not look again.
  std::atomic<int64_t> next_refresh_ns_{0};
  // Set by the destructor: a resend fails with CANCELLED instead, and a wait-for-ready wait
  // stops. Resends count themselves in `resending_` and then read `closing_`, the destructor
  // sets it and then reads the count (sequentially consistent): either the resend sees it, or
  // the destructor waits for the resend.
  std::atomic<bool> closing_{false};
  std::atomic<uint32_t> resending_{0};
  Mutex mutex_;  // one thread rebuilds the live set at a time
  // Every connection this channel made. A replaced one stays until the channel goes, since a
  // thread may still hold a pointer to it (its calls fail with UNAVAILABLE); its pool memory is
  // given back by ReleaseGone once its server has gone and no call uses it.
  std::vector<std::unique_ptr<ClientConnection>> connections_ NOTNETS_GUARDED_BY(mutex_);
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_CHANNEL_CORE_H_
