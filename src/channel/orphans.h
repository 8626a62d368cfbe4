// Finding the connections that no live process will ever free: those of a service's earlier
// servers whose client died too.
#ifndef NOTNETS_CHANNEL_ORPHANS_H_
#define NOTNETS_CHANNEL_ORPHANS_H_

#include <cstdint>

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

}  // namespace notnets::internal

#endif  // NOTNETS_CHANNEL_ORPHANS_H_
