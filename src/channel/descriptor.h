// A descriptor: one slot of a connection's request or response ring, one cache line.
#ifndef NOTNETS_CHANNEL_DESCRIPTOR_H_
#define NOTNETS_CHANNEL_DESCRIPTOR_H_

#include <cstddef>
#include <cstdint>

#include "notnets/limits.h"
#include "pool/shared_memory.h"

namespace notnets::internal {

// What a descriptor carries (low bits of Descriptor::flags).
enum class DescriptorKind : uint16_t {
  kRequest = 1,   // client -> server: a call
  kResponse = 3,  // server -> client: the result of call `call_id`
};

inline constexpr uint16_t kKindMask = 0x00ff;
// The payload is in a pool block (payload.buffer), not inline.
inline constexpr uint16_t kPayloadInBlock = 0x0100;
// metadata_offset names a block of encoded metadata (and, in a response, the status message).
inline constexpr uint16_t kHasMetadata = 0x0200;
// A response whose status message and metadata found no room in its sender's memory: its
// receiver says so in place of the message.
inline constexpr uint16_t kMetadataDropped = 0x0400;

struct BlockPayload {
  uint64_t block_offset;  // pool offset of the block's header
  uint64_t length;        // message bytes in the block's payload
};

struct alignas(kCacheLineBytes) Descriptor {
  // Ring position + 1 once the slot is published; written last (Publish).
  SharedWord sequence;
  // Chosen by the client: slot index in the low 32 bits, the slot's generation above.
  uint64_t call_id;
  // Request: method index in the service's method table. Response: StatusCode.
  uint32_t code;
  uint16_t flags;
  uint16_t inline_length;
  // Request: the caller's remaining time in nanoseconds, 0 for no deadline.
  uint64_t timeout_ns;
  uint64_t metadata_offset;
  union {
    uint8_t inline_bytes[kInlineMessageBytes];
    BlockPayload block;
  } payload;
};
static_assert(sizeof(Descriptor) == kCacheLineBytes);
static_assert(offsetof(Descriptor, sequence) == 0);
static_assert(offsetof(Descriptor, call_id) == 8);
static_assert(offsetof(Descriptor, code) == 16);
static_assert(offsetof(Descriptor, timeout_ns) == 24);
static_assert(offsetof(Descriptor, metadata_offset) == 32);
static_assert(offsetof(Descriptor, payload) == 40);
// The inline payload fills the rest of the descriptor's cache line: no more, no less.
static_assert(offsetof(Descriptor, payload) + kInlineMessageBytes == kCacheLineBytes);
static_assert(sizeof(BlockPayload) <= kInlineMessageBytes);

// The fields of a descriptor without its sequence word: what a reader copies out of the ring.
struct Message {
  uint64_t call_id = 0;
  uint32_t code = 0;
  uint16_t flags = 0;
  uint16_t inline_length = 0;
  uint64_t timeout_ns = 0;
  uint64_t metadata_offset = 0;
  union {
    uint8_t inline_bytes[kInlineMessageBytes];
    BlockPayload block;
  } payload = {};

  DescriptorKind kind() const { return static_cast<DescriptorKind>(flags & kKindMask); }
};
static_assert(sizeof(Message) == sizeof(Descriptor) - sizeof(SharedWord));

}  // namespace notnets::internal

#endif  // NOTNETS_CHANNEL_DESCRIPTOR_H_
