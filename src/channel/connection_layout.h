// The memory of one connection between a client and a server:
//
//   [BlockHeader][ConnectionHeader]
//   [requests:  DirectionHeader, Descriptor x capacity, cancel word x capacity]
//   [responses: DirectionHeader, Descriptor x capacity]
//
// Each direction is written only by its sender (requests by the client, responses by the
// server), including the counter of what its sender consumed of the other direction, so each can
// later live in its own segment, mapped writable by its sender and read-only by its receiver.
// Cancel word i holds the call id of call slot i once the client cancels it: a running handler
// sees it without any server thread having to read the request ring.
#ifndef NOTNETS_CHANNEL_CONNECTION_LAYOUT_H_
#define NOTNETS_CHANNEL_CONNECTION_LAYOUT_H_

#include <cstddef>
#include <cstdint>

#include "channel/descriptor.h"
#include "pool/shared_memory.h"

namespace notnets::internal {

// "NNCONN01" read as a little-endian word.
inline constexpr uint64_t kConnectionMagic = 0x31304e4e4f434e4eull;
inline constexpr uint32_t kConnectionVersion = 1;
inline constexpr uint32_t kMinRingCapacity = 2;
inline constexpr uint32_t kMaxRingCapacity = 4096;

// Bits of ConnectionHeader::lifecycle, set once each with FetchOr.
inline constexpr uint64_t kClientDetached = 1;
inline constexpr uint64_t kServerDetached = 2;
// Set with FetchOr by a side that refused garbage (MarkForSweep).
inline constexpr uint64_t kSweepOnFree = 4;

// Values of DirectionHeader::closed.
inline constexpr uint64_t kOpen = 0;
inline constexpr uint64_t kClosedBySender = 1;      // the sender shut down or went away
inline constexpr uint64_t kClosedForViolation = 2;  // the sender met garbage from the receiver
inline constexpr uint64_t kClosedAtLimit = 3;       // the server refused it: at a connection limit

struct alignas(kCacheLineBytes) ConnectionHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t ring_capacity;     // descriptors per direction, a power of two
  uint64_t requests_offset;   // pool offset of the requests DirectionHeader
  uint64_t responses_offset;  // pool offset of the responses DirectionHeader
  uint32_t service_index;     // the directory entry this connection was made for
  uint32_t reserved0;
  uint64_t service_generation;
  uint64_t client_pid;
  uint64_t client_token;  // the client process's liveness token (ProcessIdentity)
  // Written by both sides, only by FetchOr: kClientDetached | kServerDetached.
  SharedWord lifecycle;
  // Link in the service's stack of connections waiting to be accepted.
  SharedWord next_pending;
  uint64_t serial;  // unique for the pool's life: owner ids of the two sides derive from it
  uint8_t reserved1[128 - 88];
};
static_assert(sizeof(ConnectionHeader) == 128);
static_assert(offsetof(ConnectionHeader, lifecycle) == 64);

struct alignas(kCacheLineBytes) DirectionHeader {
  // How many descriptors of the other direction this direction's sender has consumed. Written on
  // every read, so it has a cache line of its own: the peer polls `closed` often.
  SharedWord peer_consumed;
  uint8_t reserved0[kCacheLineBytes - sizeof(SharedWord)];
  // kOpen, or why the sender closed its direction (kClosedBySender, ...).
  SharedWord closed;
  uint8_t reserved1[kCacheLineBytes - sizeof(SharedWord)];
};
static_assert(sizeof(DirectionHeader) == 2 * kCacheLineBytes);
static_assert(offsetof(DirectionHeader, closed) == kCacheLineBytes);

// Where each part of a connection lies, relative to the start of its block.
struct ConnectionGeometry {
  explicit ConnectionGeometry(uint32_t capacity) : capacity(capacity) {}
  uint64_t header() const { return kCacheLineBytes; }
  uint64_t ring_bytes() const {
    return sizeof(DirectionHeader) + uint64_t{capacity} * sizeof(Descriptor);
  }
  uint64_t cancel_bytes() const {
    return (uint64_t{capacity} * sizeof(SharedWord) + kCacheLineBytes - 1) / kCacheLineBytes *
           kCacheLineBytes;
  }
  uint64_t requests() const { return header() + sizeof(ConnectionHeader); }
  uint64_t cancel_words() const { return requests() + ring_bytes(); }
  uint64_t responses() const { return cancel_words() + cancel_bytes(); }
  uint64_t payload_bytes() const { return responses() + ring_bytes() - kCacheLineBytes; }
  uint32_t capacity;
};

inline bool IsValidRingCapacity(uint64_t capacity) {
  return capacity >= kMinRingCapacity && capacity <= kMaxRingCapacity &&
         (capacity & (capacity - 1)) == 0;
}

}  // namespace notnets::internal

#endif  // NOTNETS_CHANNEL_CONNECTION_LAYOUT_H_
