// What a Channel is made of: its current connection, and the connections it had before its
// service's server restarted.
#ifndef NOTNETS_RPC_CHANNEL_CORE_H_
#define NOTNETS_RPC_CHANNEL_CORE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "notnets/channel.h"
#include "rpc/client_connection.h"
#include "rpc/mutex.h"

namespace notnets::internal {

class ChannelCore {
 public:
  // Registers with the ChannelJanitor, which calls ReleaseGone from its own thread.
  ChannelCore(std::shared_ptr<Pool> pool, std::string service, const ChannelOptions& options,
              std::unique_ptr<ClientConnection> first);
  ~ChannelCore();

  // The connection for a new call: the current one while its server is there, otherwise a new
  // connection to the service's new server. Without one, fails with UNAVAILABLE at once, or,
  // for a wait-for-ready call, waits for a server within the call's deadline.
  ClientConnection* Ready(ClientContext* context, Status* status);

  // Runs a call on the Ready connection. A call that failed because the server went away before
  // reading it goes again to the service's next server (it cannot have run), and so does an
  // at-most-once call: a few times, or until its deadline for a wait-for-ready call.
  static constexpr int kMaxTransparentAttempts = 3;
  Status CallSync(std::string_view method, ClientConnection::Request request,
                  ClientContext* context, ReceivedMessage* response);

  // The current connection (for buffers: any connection's cache serves any call).
  ClientConnection* current() const { return current_.load(std::memory_order_acquire); }
  const std::string& service() const { return service_; }

  // Gives back the pool memory of every connection whose server has gone and that no call uses
  // (ClientConnection::ReleaseIfServerGone), the current one included: the next call then
  // connects again.
  void ReleaseGone() NOTNETS_EXCLUDES(mutex_);

 private:
  // Connects again unless another thread already replaced `stale`.
  Status Reconnect(ClientConnection* stale) NOTNETS_EXCLUDES(mutex_);

  std::shared_ptr<Pool> pool_;
  std::string service_;
  ChannelOptions options_;
  std::atomic<ClientConnection*> current_;
  Mutex mutex_;  // one thread reconnects at a time
  // Every connection this channel made. A replaced one stays until the channel goes, since a
  // thread may still hold a pointer to it (its calls fail with UNAVAILABLE); its pool memory is
  // given back by ReleaseGone once its server has gone and no call uses it.
  std::vector<std::unique_ptr<ClientConnection>> connections_ NOTNETS_GUARDED_BY(mutex_);
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_CHANNEL_CORE_H_
