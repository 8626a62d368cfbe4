// The client side of the native API: a connection to one service in a pool.
#ifndef NOTNETS_CHANNEL_H_
#define NOTNETS_CHANNEL_H_

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "notnets/call_callback.h"
#include "notnets/client_context.h"
#include "notnets/message.h"
#include "notnets/pool.h"
#include "notnets/status.h"

namespace notnets {

namespace internal {
class ChannelAccess;
class ChannelCore;
}  // namespace internal

// Options for Channel::Connect.
struct ChannelOptions {
  // Most calls outstanding at once on this channel (a power of two, 2..4096). Also the capacity
  // of the connection's request and response rings.
  uint32_t max_outstanding_calls = 128;
  // How long Connect waits for the service to appear in the directory (0: fail at once).
  std::chrono::milliseconds wait_for_service{0};
  // Bytes of the pool one connection of this channel may hold at once for messages: those it is
  // writing, has received and holds, and its cache. A call over it gets RESOURCE_EXHAUSTED naming
  // this quota. 0: half of the pool's heap, as PoolOptions::max_process_memory_bytes, which
  // bounds all of a process's channels together.
  uint64_t max_memory_bytes = 0;
  // Bytes of each direction's arena on a connection of this channel: the requests' in this
  // process's segment, the responses' (the same size) in the server's. Every request and response
  // too large to go inline in its descriptor, and every metadata block, is written in its
  // sender's arena and read in place by its receiver until released; a message larger than the
  // arena, or one that finds it held by messages the receiver has not released, fails with
  // RESOURCE_EXHAUSTED naming this option. The arena is sparse: it costs memory only as far as
  // messages have used it, at most this much. A multiple of 4096, at most 1 GiB. The default
  // carries gRPC's default 4 MiB messages and a few of up to 16 MiB at once. 0: messages are
  // blocks of the pool's heap (the earlier design, to be removed).
  uint64_t connection_arena_bytes = uint64_t{64} << 20;
  // CPUs (numbers this process may run on) that the channel's completion threads run on alone:
  // the thread of each connection may run on any of them, and on no other. Connect fails with
  // INVALID_ARGUMENT naming a CPU the process may not run on. Empty (the default): the thread
  // keeps the affinity of the thread that made its connection's first asynchronous call.
  std::vector<int> completion_cpus;
};

// A connection to a service by name, through the pool's directory: no address, no port.
// Thread-safe: any number of threads may call at once, up to max_outstanding_calls.
//
// If the server (or one replica of the service) goes away, a call that it never read (so no
// handler ran) is sent again to another replica or the service's new server, up to three attempts
// in all (any number within the deadline with wait_for_ready); so is an at-most-once call, whose
// retry the pool's window answers without running its handler twice. This holds for Call and
// CallAsync alike; an asynchronous call's request is copied back out of the pool for it, so a
// zero-copy CallAsync goes again too, but a zero-copy Call whose buffer went with the first
// attempt does not, nor does an at-most-once CallAsync whose request went in a pool block that the
// server took. Every other call in flight fails with UNAVAILABLE: a handler may have run.
// Later calls look the service up again and connect to its new server when there is one; while
// there is none they fail at once with UNAVAILABLE, or, with
// ClientContext::set_wait_for_ready(true), wait for it within their deadline.
class Channel {
 public:
  // Connects to `service` in `pool`. Fails with UNAVAILABLE naming the service if no server has
  // registered it, and with RESOURCE_EXHAUSTED if the pool has no room for the connection.
  static Status Connect(std::shared_ptr<Pool> pool, std::string_view service,
                        const ChannelOptions& options, std::shared_ptr<Channel>* channel);

  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Calls `method` with a copy of `request` and copies the response into `*response`. Blocks
  // until the call completes, fails, passes its deadline or is cancelled.
  Status Call(std::string_view method, std::string_view request, std::string* response,
              ClientContext* context);

  // Zero-copy call: sends `request` (from AllocateMessage) without copying and returns the
  // response in place in the pool.
  Status Call(std::string_view method, MessageBuffer request, ReceivedMessage* response,
              ClientContext* context);

  // Asynchronous call: returns at once; `done` runs exactly once when the call completes, on
  // whichever thread reads the response (the channel's completion thread, or a thread waiting in
  // a call on the same channel), or on the calling thread if the call fails before it is sent.
  // `context` must outlive the call. `done` must not block for long: the asynchronous calls it
  // starts on this channel are sent when it returns, together with those of the other callbacks
  // that completed in the same batch, and so are calls of other threads on this channel made
  // meanwhile.
  void CallAsync(std::string_view method, std::string_view request, ClientContext* context,
                 std::function<void(CallResult)> done);
  // The same with a zero-copy request (from AllocateMessage), sent without copying.
  void CallAsync(std::string_view method, MessageBuffer request, ClientContext* context,
                 std::function<void(CallResult)> done);
  // The same two calls with a CallCallback, which holds a callback of up to
  // CallCallback::kInlineBytes without allocating (std::function allocates past 16 bytes): for
  // callers that make many calls.
  void CallAsync(std::string_view method, std::string_view request, ClientContext* context,
                 CallCallback done);
  void CallAsync(std::string_view method, MessageBuffer request, ClientContext* context,
                 CallCallback done);
  // Asynchronous call whose result arrives through a future.
  std::future<CallResult> CallAsync(std::string_view method, std::string_view request,
                                    ClientContext* context);

  // Obtains a pool buffer of at least `size` bytes to build a request in place. Fails with
  // RESOURCE_EXHAUSTED if the pool cannot hold it.
  Status AllocateMessage(size_t size, MessageBuffer* buffer);

  // The service this channel is connected to.
  const std::string& service() const;
  // True if a live server of the service is there (connecting to a new one if the last has
  // gone) and registered `method`.
  bool Serves(std::string_view method);

 private:
  friend class internal::ChannelAccess;
  explicit Channel(std::unique_ptr<internal::ChannelCore> core);
  std::unique_ptr<internal::ChannelCore> core_;
};

}  // namespace notnets

#endif  // NOTNETS_CHANNEL_H_
