// The memory of one connection between a client and a server, in three places:
//
//   a pool block:           [BlockHeader][ConnectionHeader][ConnectionCounters]
//                           the rendezvous record, and the client's counts for `notnets top`
//   the client's segment:   [DirectionHeader][Descriptor x capacity][cancel word x capacity]
//                           [released offset x 2 capacity][arena]
//   the server's segment:   [DirectionHeader][Descriptor x capacity]
//                           [released offset x 2 capacity][arena]
//
// Each direction is written only by its sender (requests by the client, responses by the
// server), including the counter of what its sender consumed of the other direction, and lives
// in a segment (pool/segment.h) its sender created: the receiver maps it read-only, and no other
// user can open it. The client's segment is "<pool>.seg.<id>", where <id> is written in the
// ConnectionHeader (the client's liveness token, then 16 random hex digits); the server's is that
// name with the server's token in place of the client's and ".s" appended (Segment::PartnerName),
// so that a file whose creator died can be found and removed (pool/segment_sweep.h). Cancel word i
// holds the call id of call slot i once the client cancels it: a running handler sees it without
// any server thread having to read the request ring.
//
// A direction's arena holds the payloads and metadata its sender publishes, so the receiver reads
// them in place and never writes them. The receiver gives a block back by appending its offset
// (relative to the sender's segment) to the released list in its OWN segment and publishing
// DirectionHeader::released_count there; the sender takes the offsets back, publishes how many it
// took in its own DirectionHeader::peer_released_consumed, and frees them into a process-local
// allocator (channel/arena_allocator.h, channel/released_list.h). Every word has one writer.
#ifndef NOTNETS_CHANNEL_CONNECTION_LAYOUT_H_
#define NOTNETS_CHANNEL_CONNECTION_LAYOUT_H_

#include <cstddef>
#include <cstdint>

#include "channel/descriptor.h"
#include "pool/counters_layout.h"
#include "pool/shared_memory.h"

namespace notnets::internal {

// "NNCONN01" read as a little-endian word.
inline constexpr uint64_t kConnectionMagic = 0x31304e4e4f434e4eull;
inline constexpr uint32_t kConnectionVersion = 6;
// Hex digits of a connection's id in its segment names: the creator's token and a random part.
inline constexpr size_t kSegmentIdBytes = 32;
// What the server appends to the client's segment name to name its own.
inline constexpr char kServerSegmentSuffix[] = ".s";
inline constexpr uint32_t kMinRingCapacity = 2;
inline constexpr uint32_t kMaxRingCapacity = 4096;
// A direction's arena is a multiple of this, and at most kMaxArenaBytes: a value a client wrote
// makes the server reserve that much address space, never more.
inline constexpr uint64_t kArenaGranuleBytes = 4096;
inline constexpr uint64_t kMaxArenaBytes = uint64_t{1} << 30;

// Bits of ConnectionHeader::lifecycle, set once each with FetchOr.
inline constexpr uint64_t kClientDetached = 1;
inline constexpr uint64_t kServerDetached = 2;
// Set with FetchOr by a side that refused garbage (MarkForSweep).
inline constexpr uint64_t kSweepOnFree = 4;
// Set with FetchOr by the server once its segment exists at full size: until then the client
// does not look for the file (an open per poll would cost the server the CPU it needs to make it).
inline constexpr uint64_t kServerSegmentReady = 8;

// Values of DirectionHeader::closed.
inline constexpr uint64_t kOpen = 0;
inline constexpr uint64_t kClosedBySender = 1;      // the sender shut down or went away
inline constexpr uint64_t kClosedForViolation = 2;  // the sender met garbage from the receiver
inline constexpr uint64_t kClosedAtLimit = 3;       // the server refused it: at a connection limit
inline constexpr uint64_t kClosedNotAllowed = 4;    // the server refused it: the caller's uid/gid

// Written by the client before it pushes the connection, except `lifecycle`. Nothing in it is
// verified: the server learns the client's uid and gid from its segment's owner, not from here.
struct alignas(kCacheLineBytes) ConnectionHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t ring_capacity;  // descriptors per direction, a power of two
  uint32_t service_index;  // the directory entry this connection was made for
  uint32_t reserved0;
  uint64_t service_generation;
  uint64_t client_pid;
  uint64_t client_token;  // the client process's liveness token (ProcessIdentity)
  uint64_t serial;        // unique for the pool's life: owner ids of the two sides derive from it
  // Bytes of each direction's arena (IsValidArenaBytes), chosen by the client: its segment holds
  // one that large, and the server makes its own the same size. 0: the payloads are pool blocks.
  uint64_t arena_bytes;
  // Written by both sides, only by FetchOr: kClientDetached, kServerDetached, kSweepOnFree,
  // kServerSegmentReady.
  SharedWord lifecycle;
  // Link in the service's stack of connections waiting to be accepted.
  SharedWord next_pending;
  // The random part of the client's segment name, lowercase hex.
  char segment_id[kSegmentIdBytes];
  uint64_t client_host;  // the host id (HostId()) the client says it runs on
  uint64_t reserved2;
};
static_assert(sizeof(ConnectionHeader) == 128);
static_assert(offsetof(ConnectionHeader, serial) == 48);
static_assert(offsetof(ConnectionHeader, arena_bytes) == 56);
static_assert(offsetof(ConnectionHeader, lifecycle) == 64);
static_assert(offsetof(ConnectionHeader, segment_id) == 80);
static_assert(offsetof(ConnectionHeader, client_host) == 112);

// What the client counts of its calls on one connection, after the ConnectionHeader in the
// connection's block, for `notnets top`. Written only by the client's thread reading responses
// (one at a time), with plain stores of values it keeps in process memory (Visibility::Record);
// read by anyone without stopping it. Every counter only grows.
struct alignas(kCacheLineBytes) ConnectionCounters {
  SharedWord calls_answered;  // responses read
  SharedWord calls_failed;    // of those, with a status other than OK
  SharedWord latency_sum_ns;  // the time of all timed calls
  SharedWord reserved0[5];
  // Timed calls (the first of every kLatencySampleEvery uses of a call slot) by LatencyBucket of
  // their time, from claiming the ring position to reading the response.
  SharedWord latency[kLatencyBuckets];
};
static_assert(sizeof(ConnectionCounters) == 384);
static_assert(offsetof(ConnectionCounters, latency) == 64);

// The first bytes of a direction's segment.
struct alignas(kCacheLineBytes) DirectionHeader {
  // How many descriptors of the other direction this direction's sender has consumed. Written on
  // every read, so it has a cache line of its own: the peer polls `closed` often.
  SharedWord peer_consumed;
  // 1 once this direction's sender has mapped the other direction's segment: its creator may
  // then unlink it. Written once.
  SharedWord peer_opened;
  // How many offsets this direction's sender has appended to the released list in its segment:
  // blocks of the other direction's arena it is done with. Published after the offsets.
  SharedWord released_count;
  // How many entries of the other direction's released list this direction's sender has taken
  // back: the other side may overwrite those entries.
  SharedWord peer_released_consumed;
  uint8_t reserved0[kCacheLineBytes - 4 * sizeof(SharedWord)];
  // kOpen, or why the sender closed its direction (kClosedBySender, ...).
  SharedWord closed;
  // A doorbell (pool/doorbell.h) for the other direction's messages, in two halves each written
  // by one side: `sleepers` counts this sender's threads asleep until the other direction has a
  // message; `wake_sequence` is bumped by this sender when it wakes the other side's sleepers
  // after publishing, the futex they sleep on. Rarely written, so beside `closed`.
  SharedWord sleepers;
  SharedWord wake_sequence;
  uint8_t reserved1[kCacheLineBytes - 3 * sizeof(SharedWord)];
};
static_assert(sizeof(DirectionHeader) == 2 * kCacheLineBytes);
static_assert(offsetof(DirectionHeader, peer_opened) == 8);
static_assert(offsetof(DirectionHeader, released_count) == 16);
static_assert(offsetof(DirectionHeader, peer_released_consumed) == 24);
static_assert(offsetof(DirectionHeader, closed) == kCacheLineBytes);
static_assert(offsetof(DirectionHeader, sleepers) == kCacheLineBytes + 8);
static_assert(offsetof(DirectionHeader, wake_sequence) == kCacheLineBytes + 16);

// Where each part of a connection lies: the header relative to the start of its block, the
// rings, cancel words, released lists and arenas relative to the start of their segments. Each
// direction's arena holds `arena_bytes` (0: no arena).
struct ConnectionGeometry {
  explicit ConnectionGeometry(uint32_t capacity, uint64_t arena_bytes = 0)
      : capacity(capacity), arena_bytes(arena_bytes) {}
  uint64_t header() const { return kCacheLineBytes; }
  uint64_t counters() const { return header() + sizeof(ConnectionHeader); }
  uint64_t payload_bytes() const { return sizeof(ConnectionHeader) + sizeof(ConnectionCounters); }
  uint64_t ring_bytes() const {
    return sizeof(DirectionHeader) + uint64_t{capacity} * sizeof(Descriptor);
  }
  uint64_t cancel_bytes() const { return LinesFor(uint64_t{capacity} * sizeof(SharedWord)); }
  uint64_t cancel_words() const { return ring_bytes(); }
  // Entries of each released list: a receiver releases at most a payload and a metadata block
  // per message, and holds fewer messages than that most of the time; more wait in its process.
  uint64_t released_capacity() const { return 2 * uint64_t{capacity}; }
  uint64_t released_bytes() const { return LinesFor(released_capacity() * sizeof(SharedWord)); }
  uint64_t requests_released() const { return ring_bytes() + cancel_bytes(); }
  uint64_t responses_released() const { return ring_bytes(); }
  uint64_t requests_arena() const { return requests_released() + released_bytes(); }
  uint64_t responses_arena() const { return responses_released() + released_bytes(); }
  uint64_t requests_bytes() const { return requests_arena() + arena_bytes; }
  uint64_t responses_bytes() const { return responses_arena() + arena_bytes; }
  uint32_t capacity;
  uint64_t arena_bytes;

 private:
  static uint64_t LinesFor(uint64_t bytes) {
    return (bytes + kCacheLineBytes - 1) / kCacheLineBytes * kCacheLineBytes;
  }
};

inline bool IsValidArenaBytes(uint64_t bytes) {
  return bytes % kArenaGranuleBytes == 0 && bytes <= kMaxArenaBytes;
}

inline bool IsValidRingCapacity(uint64_t capacity) {
  return capacity >= kMinRingCapacity && capacity <= kMaxRingCapacity &&
         (capacity & (capacity - 1)) == 0;
}

}  // namespace notnets::internal

#endif  // NOTNETS_CHANNEL_CONNECTION_LAYOUT_H_
