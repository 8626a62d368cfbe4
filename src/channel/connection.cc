#include "channel/connection.h"

#include <cstring>
#include <new>

#include "pool/process_identity.h"

namespace notnets::internal {

namespace {

void FillView(const PoolMapping& mapping, uint64_t block_offset, uint32_t capacity,
              ConnectionView* view) {
  ConnectionGeometry geometry(capacity);
  view->block_offset = block_offset;
  view->capacity = capacity;
  view->header = mapping.At<ConnectionHeader>(block_offset + geometry.header());
  view->requests = mapping.At<DirectionHeader>(block_offset + geometry.requests());
  view->responses = mapping.At<DirectionHeader>(block_offset + geometry.responses());
  view->cancel_words = mapping.At<SharedWord>(block_offset + geometry.cancel_words());
}

// Frees the blocks referenced by descriptors of `slots` published at or after `consumed`, if they
// are still published to `reader` (the descriptor may be garbage; the block may belong to another
// connection by now).
void FreeUnconsumed(Allocator* allocator, const Descriptor* slots, uint32_t capacity,
                    uint64_t consumed, uint64_t reader) {
  const Visibility& visibility = allocator->mapping()->visibility();
  for (uint32_t i = 0; i < capacity; ++i) {
    uint64_t sequence = visibility.Consume(&slots[i].sequence);
    if (sequence <= consumed) continue;
    Message message;
    std::memcpy(&message, reinterpret_cast<const uint8_t*>(&slots[i]) + sizeof(SharedWord),
                sizeof(message));
    uint64_t blocks[2] = {message.flags & kPayloadInBlock ? message.payload.block.block_offset : 0,
                          message.flags & kHasMetadata ? message.metadata_offset : 0};
    for (uint64_t block : blocks) {
      BlockHeader* header = block != 0 ? allocator->ValidBlock(block) : nullptr;
      if (header != nullptr && header->ownership.load(std::memory_order_relaxed) ==
                                   BlockOwnership(reader, BlockState::kPublished)) {
        allocator->Free(block);
      }
    }
  }
}

// Frees the blocks of the messages in both rings that their readers never took.
void FreeUnread(Allocator* allocator, const ConnectionView& view) {
  const Visibility& visibility = allocator->mapping()->visibility();
  FreeUnconsumed(allocator, view.request_slots(), view.capacity,
                 visibility.Consume(&view.responses->peer_consumed), view.endpoint(Side::kServer));
  FreeUnconsumed(allocator, view.response_slots(), view.capacity,
                 visibility.Consume(&view.requests->peer_consumed), view.endpoint(Side::kClient));
}

}  // namespace

Status CreateConnection(Allocator* allocator, uint32_t capacity, const ServiceRef& service,
                        ConnectionView* view) {
  ConnectionGeometry geometry(capacity);
  uint64_t block_offset;
  Status status = allocator->Allocate(geometry.payload_bytes(), 0, &block_offset);
  if (!status.ok()) return status;
  const PoolMapping& mapping = *allocator->mapping();
  FillView(mapping, block_offset, capacity, view);
  ProcessIdentity self = SelfIdentity();
  // Serials start at 1 (the pool's counter starts at 0), so endpoint ids start at 2.
  view->serial = Visibility::FetchAdd(&mapping.header()->connection_serial, 1) + 1;
  auto* header = new (view->header) ConnectionHeader{};
  header->serial = view->serial;
  header->magic = kConnectionMagic;
  header->version = kConnectionVersion;
  header->ring_capacity = capacity;
  header->requests_offset = block_offset + geometry.requests();
  header->responses_offset = block_offset + geometry.responses();
  header->service_index = service.index;
  header->service_generation = service.generation;
  header->client_pid = static_cast<uint64_t>(self.pid);
  header->client_token = self.token;
  for (DirectionHeader* direction : {view->requests, view->responses}) {
    new (direction) DirectionHeader{};
    auto* slots = reinterpret_cast<Descriptor*>(direction + 1);
    for (uint32_t i = 0; i < capacity; ++i) new (&slots[i]) Descriptor{};
  }
  for (uint32_t i = 0; i < capacity; ++i) new (&view->cancel_words[i]) SharedWord{0};
  allocator->mapping()
      ->At<BlockHeader>(block_offset)
      ->ownership.store(BlockOwnership(view->endpoint(Side::kClient), BlockState::kOwned),
                        std::memory_order_relaxed);
  mapping.visibility().WriteBack(view->header, geometry.payload_bytes());
  return Status::OK;
}

bool OpenConnection(const Allocator& allocator, uint64_t block_offset, const ServiceRef& service,
                    ConnectionView* view) {
  BlockHeader* block = allocator.ValidBlock(block_offset);
  if (block == nullptr) return false;
  const PoolMapping& mapping = *allocator.mapping();
  auto* header = mapping.At<ConnectionHeader>(block_offset + kCacheLineBytes);
  mapping.visibility().Invalidate(header, sizeof(*header));
  // Read each field once; the client may still be writing garbage.
  uint64_t magic = header->magic;
  uint32_t version = header->version;
  uint32_t capacity = header->ring_capacity;
  uint64_t serial = header->serial;
  uint64_t requests = header->requests_offset;
  uint64_t responses = header->responses_offset;
  if (magic != kConnectionMagic || version != kConnectionVersion || serial == 0 ||
      serial >= (uint64_t{1} << 54) || !IsValidRingCapacity(capacity) ||
      header->service_index != service.index || header->service_generation != service.generation) {
    return false;
  }
  ConnectionGeometry geometry(capacity);
  if (Allocator::PayloadCapacity(Allocator::SizeClassOf(block)) < geometry.payload_bytes() ||
      requests != block_offset + geometry.requests() ||
      responses != block_offset + geometry.responses()) {
    return false;
  }
  FillView(mapping, block_offset, capacity, view);
  view->serial = serial;
  mapping.visibility().Invalidate(view->requests, geometry.payload_bytes() - geometry.requests());
  return true;
}

void DetachConnection(Allocator* allocator, const ConnectionView& view, Side side,
                      bool peer_is_dead) {
  constexpr uint64_t kBoth = kClientDetached | kServerDetached;
  uint64_t mine = side == Side::kClient ? kClientDetached : kServerDetached;
  uint64_t before = Visibility::FetchOr(&view.header->lifecycle, peer_is_dead ? kBoth : mine);
  // Only the call that completes the pair frees.
  if ((before & kBoth) == kBoth) return;
  if (!peer_is_dead && (before & kBoth) != (kBoth & ~mine)) return;
  Side peer = side == Side::kClient ? Side::kServer : Side::kClient;
  if (peer_is_dead) {
    // A dead peer will never release what it held: its cache, messages it kept, messages sent
    // to it that it never took.
    allocator->ReclaimOwnedBy(view.endpoint(peer), view.block_offset, BlockStates::kAny);
    // ... and blocks it had handed to us but died before naming in a descriptor.
    allocator->ReclaimOwnedBy(view.endpoint(side), view.block_offset, BlockStates::kPublished);
  }
  FreeUnread(allocator, view);
  if (before & kSweepOnFree) {
    // A side met garbage: a message it refused is published to it and referenced by nothing.
    for (Side each : {Side::kClient, Side::kServer}) {
      allocator->ReclaimOwnedBy(view.endpoint(each), view.block_offset, BlockStates::kPublished);
    }
  }
  allocator->Free(view.block_offset);
}

void FreeAbandonedConnection(Allocator* allocator, const ConnectionView& view) {
  Visibility::FetchOr(&view.header->lifecycle, kClientDetached | kServerDetached);
  for (Side side : {Side::kClient, Side::kServer}) {
    allocator->ReclaimOwnedBy(view.endpoint(side), view.block_offset, BlockStates::kAny);
  }
  FreeUnread(allocator, view);
  allocator->Free(view.block_offset);
}

void MarkForSweep(const ConnectionView& view) {
  Visibility::FetchOr(&view.header->lifecycle, kSweepOnFree);
}

}  // namespace notnets::internal
