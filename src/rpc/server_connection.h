// One client's connection as a server holds it, and the service it reached.
#ifndef NOTNETS_RPC_SERVER_CONNECTION_H_
#define NOTNETS_RPC_SERVER_CONNECTION_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "channel/connection.h"
#include "channel/ring.h"
#include "notnets/server.h"
#include "pool/directory.h"
#include "pool/doorbell.h"
#include "pool/process_identity.h"
#include "rpc/buffer_cache.h"
#include "rpc/mutex.h"
#include "rpc/service_counters.h"

namespace notnets::internal {

// A service this server registered in the directory.
struct RegisteredService {
  Service* service;
  ServiceRef ref;
  std::unique_ptr<ServiceCounters> counters;  // set before the workers start
};

// The server's end of one connection: the ring it reads requests from, the ring it answers in,
// and what the workers and housekeeping know about it.
struct ServerConnection {
  // `epoch`: the server's lease epoch (its buffer cache frees nothing after it).
  ServerConnection(const ConnectionView& view, const RegisteredService* service,
                   std::shared_ptr<Pool> pool, uint64_t epoch);
  ConnectionView view;
  const RegisteredService* service;
  std::shared_ptr<BufferCache> cache;
  RingReader requests;
  RingWriter responses;
  // Rung after each response, in case client threads sleep waiting for one: its half in our
  // segment, the client's count of sleepers in its own. Attached to nothing in a pool without
  // coherence, whose users may be hosts no futex reaches.
  Doorbell response_bell;
  TryFlag polling;  // held while reading `requests`
  // Calls taken and not yet answered (synchronous handlers running, asynchronous calls not yet
  // finished): the connection is not retired while there are any.
  std::atomic<uint32_t> handlers_running{0};
  std::atomic<uint32_t> requests_taken{0};  // written by the poller, read by CoolDown
  uint32_t taken_at_cool_down = 0;          // CoolDown only
  uint32_t quiet_intervals = 0;             // CoolDown only
  ProcessIdentity client;                   // read once at accept
  PeerIdentity peer;                        // set at accept
  bool segment_unlinked = false;            // CheckClients only
  std::atomic<bool> client_dead{false};     // set by housekeeping
  std::atomic<bool> violated{false};        // the client sent garbage: closed
  bool retired NOTNETS_GUARDED_BY(polling) = false;
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_SERVER_CONNECTION_H_
