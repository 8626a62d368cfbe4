// Creating, validating and releasing the shared memory of one connection.
#ifndef NOTNETS_CHANNEL_CONNECTION_H_
#define NOTNETS_CHANNEL_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>

#include "channel/connection_layout.h"
#include "channel/descriptor.h"
#include "channel/direction_arena.h"
#include "notnets/status.h"
#include "pool/allocator.h"
#include "pool/directory.h"
#include "pool/segment.h"

namespace notnets::internal {

enum class Side : uint8_t { kClient = 0, kServer = 1 };

// Validated addresses of one connection's parts in this process's mapping.
struct ConnectionView {
  uint64_t block_offset = 0;
  uint64_t serial = 0;  // read once from the header
  uint32_t capacity = 0;
  uint64_t arena_bytes = 0;  // of each direction's arena, read once from the header
  ConnectionHeader* header = nullptr;
  ConnectionCounters* counters = nullptr;  // after the header, in the same block
  // Null until this process maps the connection's segments (AcceptSegments on the server): a
  // process that is not a party never does.
  DirectionHeader* requests = nullptr;
  DirectionHeader* responses = nullptr;
  SharedWord* cancel_words = nullptr;  // in the requests direction, one per call slot
  // The segment this side writes, and the other side's, read-only (on the client a Placeholder
  // until AttachServerSegment). Shared by the copies of the view.
  std::shared_ptr<Segment> own;
  std::shared_ptr<Segment> peer;

  bool has_rings() const { return requests != nullptr && responses != nullptr; }
  ConnectionGeometry geometry() const { return ConnectionGeometry(capacity, arena_bytes); }
  Descriptor* request_slots() const { return reinterpret_cast<Descriptor*>(requests + 1); }
  Descriptor* response_slots() const { return reinterpret_cast<Descriptor*>(responses + 1); }
  // The id that owns blocks held by `side` of this connection: never 0 or 1, never reused.
  uint64_t endpoint(Side side) const { return serial << 1 | static_cast<uint64_t>(side); }
};

// Client: allocates and initializes a connection to `service` with rings of `capacity` and
// arenas of `arena_bytes` (IsValidArenaBytes; 0: payloads in pool blocks): its header block in
// the pool, the request direction in a segment only `server_uid` may read (its arena sparse),
// and a placeholder where the server's segment will be mapped.
Status CreateConnection(Allocator* allocator, uint32_t capacity, uint64_t arena_bytes,
                        const ServiceRef& service, uint32_t server_uid, ConnectionView* view);

// Validates a connection offset read from the directory (the header only: the view has no
// rings); false if it does not describe a connection to `service`.
bool OpenConnection(const Allocator& allocator, uint64_t block_offset, const ServiceRef& service,
                    ConnectionView* view);

// Server, after OpenConnection: maps the client's segment read-only (its owner is the caller's
// verified uid and gid: view->peer->owner()) and creates the response direction's segment,
// readable by that uid alone, then tells the client it is ready (kServerSegmentReady). On error
// the view is left without rings.
Status AcceptSegments(const std::string& pool_path, ConnectionView* view);

// What the client found where the server's segment belongs.
enum class ServerSegment : uint8_t {
  kNotYet,    // nothing yet, or not complete: the server has not accepted the connection
  kAttached,  // mapped over the placeholder
  kImpostor,  // a file the server's user did not create: not mapped, never to be trusted
};

// Who the client expects to have made the server's segment: the replica it connected to.
struct ServerOfConnection {
  uint64_t token = 0;  // its liveness token: part of its segment's name
  uint32_t uid = 0;    // its user: the owner its segment's file must have
};

// Client: maps the server's segment over the placeholder once the server says it is ready
// (no system call before that), if the kernel says `server.uid` created it.
ServerSegment AttachServerSegment(const std::string& pool_path, const ServerOfConnection& server,
                                  ConnectionView* view);

// The arena `side` sends its payloads from, in its own segment, taking back what the other side
// releases; `charge` and `option` as SenderArena's. Null if the connection has no arenas.
std::unique_ptr<SenderArena> SenderArenaOf(const ConnectionView& view, Side side,
                                           const Visibility* visibility,
                                           std::function<Status(uint64_t)> charge,
                                           std::string option);

// The other side's arena, read in place by `side`, which releases blocks into its own segment.
// Null if the connection has no arenas.
std::unique_ptr<ReceiverArena> ReceiverArenaOf(const ConnectionView& view, Side side,
                                               const Visibility* visibility);

// Marks `side` as gone from the connection; with `peer_is_dead`, the peer too (a dead process will
// not touch the connection again, and every block its endpoint owned is reclaimed). The side that
// leaves last frees the connection and every block still referenced by a descriptor that was
// published but never consumed (without rings, every block still published to either endpoint).
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
