// Creating, validating and releasing the shared memory of one connection.
#ifndef NOTNETS_CHANNEL_CONNECTION_H_
#define NOTNETS_CHANNEL_CONNECTION_H_

#include <cstdint>

#include "channel/connection_layout.h"
#include "channel/descriptor.h"
#include "notnets/status.h"
#include "pool/allocator.h"
#include "pool/directory.h"

namespace notnets::internal {

enum class Side : uint8_t { kClient = 0, kServer = 1 };

// Validated addresses of one connection's parts in this process's mapping.
struct ConnectionView {
  uint64_t block_offset = 0;
  uint64_t serial = 0;  // read once from the header
  uint32_t capacity = 0;
  ConnectionHeader* header = nullptr;
  DirectionHeader* requests = nullptr;
  DirectionHeader* responses = nullptr;
  SharedWord* cancel_words = nullptr;  // in the requests direction, one per call slot

  Descriptor* request_slots() const { return reinterpret_cast<Descriptor*>(requests + 1); }
  Descriptor* response_slots() const { return reinterpret_cast<Descriptor*>(responses + 1); }
  // The id that owns blocks held by `side` of this connection: never 0 or 1, never reused.
  uint64_t endpoint(Side side) const { return serial << 1 | static_cast<uint64_t>(side); }
};

// Client: allocates and initializes a connection to `service` with rings of `capacity`.
Status CreateConnection(Allocator* allocator, uint32_t capacity, const ServiceRef& service,
                        ConnectionView* view);

// Server: validates a connection offset read from the directory; false if it does not describe a
// connection to `service`.
bool OpenConnection(const Allocator& allocator, uint64_t block_offset, const ServiceRef& service,
                    ConnectionView* view);

// Marks `side` as gone from the connection; with `peer_is_dead`, the peer too (a dead process will
// not touch the connection again, and every block its endpoint owned is reclaimed). The side that
// leaves last frees the connection and every block still referenced by a descriptor that was
// published but never consumed.
void DetachConnection(Allocator* allocator, const ConnectionView& view, Side side,
                      bool peer_is_dead = false);

// Frees a connection neither of whose sides will ever touch it again (both processes are dead or
// done with it): every block either endpoint owned or was sent, the blocks its unread
// descriptors name, and the connection.
void FreeAbandonedConnection(Allocator* allocator, const ConnectionView& view);

// Records that a side refused garbage from the other: blocks it refused stay published to it, so
// the last side to leave also frees every block still published to either endpoint.
void MarkForSweep(const ConnectionView& view);

}  // namespace notnets::internal

#endif  // NOTNETS_CHANNEL_CONNECTION_H_
