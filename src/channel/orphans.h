// Finding the connections that no live process will ever free: those of a service's earlier
// servers whose client died too, and those whose client died before a server accepted them.
#ifndef NOTNETS_CHANNEL_ORPHANS_H_
#define NOTNETS_CHANNEL_ORPHANS_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "pool/allocator.h"
#include "pool/directory.h"

namespace notnets::internal {

// Walks the heap and frees every connection made for an earlier generation of `service`'s
// directory entry whose client process is dead (FreeAbandonedConnection). Such a connection's
// server is gone for good: an entry gets a new generation only once its server has unregistered
// (after detaching from every connection) or died. Its client is dead, so nobody else can be
// freeing or writing it. For the server that holds `service` now, which alone sweeps its entry's
// earlier generations. Returns how many connections it freed.
uint64_t FreeOrphanedConnections(Allocator* allocator, const ServiceRef& service);

// Walks the heap and frees every connection block whose creator (BlockHeader::creator, the
// client process that allocated it) is dead and that no server took: the client died before it
// wrote the connection's header (nothing names a service), or it names one of `services` (the
// entries, at their current generations, that the calling server holds) and no server ever
// marked it (ConnectionHeader::lifecycle is 0). `accept_pending` must accept every connection
// waiting on those entries' pending stacks: it runs after the creators were judged dead, so that
// whatever they pushed before dying is accepted, and marked, before the blocks are looked at
// again. For a server's housekeeping, which alone accepts for its entries meanwhile. A block
// that a header names for another entry is left to that entry's server. Returns how many blocks
// it freed.
uint64_t FreeUnacceptedConnectionsOfDeadClients(Allocator* allocator,
                                                const std::vector<ServiceRef>& services,
                                                const std::function<void()>& accept_pending);

}  // namespace notnets::internal

#endif  // NOTNETS_CHANNEL_ORPHANS_H_
