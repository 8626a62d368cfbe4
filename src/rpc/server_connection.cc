#include "rpc/server_connection.h"

#include "pool/pool_access.h"
#include "pool/pool_mapping.h"

namespace notnets::internal {

ServerConnection::ServerConnection(const ConnectionView& view, const RegisteredService* service,
                                   std::shared_ptr<Pool> pool, uint64_t epoch)
    : view(view),
      service(service),
      cache(std::make_shared<BufferCache>(pool, view.endpoint(Side::kServer), epoch)),
      requests(view.request_slots(), view.capacity, &view.responses->peer_consumed,
               &PoolAccess::mapping(*pool).visibility()),
      responses(view.response_slots(), view.capacity, &view.requests->peer_consumed,
                &PoolAccess::mapping(*pool).visibility()) {
  // The client sized both arenas: a response too large for this one needs a larger one there.
  cache->UseArenas(view, Side::kServer, "the client's ChannelOptions::connection_arena_bytes");
  if (PoolAccess::mapping(*pool).visibility().coherent()) {
    response_bell = Doorbell(&view.responses->wake_sequence, &view.requests->sleepers);
  }
}

}  // namespace notnets::internal
