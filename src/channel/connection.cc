#include "channel/connection.h"

#include <cstring>
#include <new>

#include "pool/crash_point.h"
#include "pool/host_id.h"
#include "pool/process_identity.h"

namespace notnets::internal {

namespace {

void FillHeader(const PoolMapping& mapping, uint64_t block_offset, uint32_t capacity,
                ConnectionView* view) {
  view->block_offset = block_offset;
  view->capacity = capacity;
  view->header = mapping.At<ConnectionHeader>(block_offset + ConnectionGeometry(capacity).header());
  view->counters =
      mapping.At<ConnectionCounters>(block_offset + ConnectionGeometry(capacity).counters());
}

void FillRings(uint8_t* requests, uint8_t* responses, ConnectionView* view) {
  ConnectionGeometry geometry = view->geometry();
  view->requests = reinterpret_cast<DirectionHeader*>(requests);
  view->responses = reinterpret_cast<DirectionHeader*>(responses);
  view->cancel_words = reinterpret_cast<SharedWord*>(requests + geometry.cancel_words());
}

std::string ClientSegmentName(const std::string& pool_path, const char* id) {
  std::string base = pool_path.substr(pool_path.rfind('/') + 1);
  return base + ".seg." + std::string(id, kSegmentIdBytes);
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

// Frees the blocks of the messages that their readers never took: found through both rings when
// this process maps them, else every block still published to either endpoint. A connection with
// arenas has none: its messages are in its segments, which go with it.
void FreeUnread(Allocator* allocator, const ConnectionView& view) {
  if (view.arena_bytes != 0) return;
  if (!view.has_rings()) {
    for (Side side : {Side::kClient, Side::kServer}) {
      allocator->ReclaimOwnedBy(view.endpoint(side), view.block_offset, BlockStates::kPublished);
    }
    return;
  }
  const Visibility& visibility = allocator->mapping()->visibility();
  FreeUnconsumed(allocator, view.request_slots(), view.capacity,
                 visibility.Consume(&view.responses->peer_consumed), view.endpoint(Side::kServer));
  FreeUnconsumed(allocator, view.response_slots(), view.capacity,
                 visibility.Consume(&view.requests->peer_consumed), view.endpoint(Side::kClient));
}

}  // namespace

Status CreateConnection(Allocator* allocator, uint32_t capacity, uint64_t arena_bytes,
                        const ServiceRef& service, uint32_t server_uid, ConnectionView* view) {
  ConnectionGeometry geometry(capacity, arena_bytes);
  const PoolMapping& mapping = *allocator->mapping();
  std::unique_ptr<Segment> own;
  // The arena is memory only as far as this side's messages make it real.
  Status status = Segment::CreateSparse(mapping.path(), "", geometry.requests_arena(),
                                        geometry.requests_bytes(), server_uid, &own);
  if (!status.ok()) return status;
  // It never grows: only the mapping is needed.
  own->CloseDescriptor();
  std::unique_ptr<Segment> peer = Segment::Placeholder(
      geometry.responses_bytes(), own->page_bytes(), geometry.responses_arena());
  if (peer == nullptr) {
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  "no address space left for the responses of a connection");
  }
  // Serials start at 1 (the pool's counter starts at 0), so endpoint ids start at 2.
  view->serial = Visibility::FetchAdd(&mapping.header()->connection_serial, 1) + 1;
  // The client owns the block from its allocation on: Allocate writes the owner back with the
  // header. A plain store of it afterwards would stay in this process's cache, and could reach
  // memory after the server freed the block, leaving it in use for good (docs/noncoherent.md).
  // Its creator token tells sweepers whether the block is still being made, should this process
  // die before the connection's header is written (FreeUnacceptedConnectionsOfDeadClients).
  ProcessIdentity self = SelfIdentity();
  uint64_t block_offset;
  status = allocator->Allocate(geometry.payload_bytes(), view->endpoint(Side::kClient),
                               &block_offset, self.token);
  if (!status.ok()) return status;
  CrashPoint("client.after_allocate_connection");
  FillHeader(mapping, block_offset, capacity, view);
  view->arena_bytes = arena_bytes;
  FillRings(own->base(), peer->base(), view);
  view->own = std::move(own);
  view->peer = std::move(peer);
  auto* header = new (view->header) ConnectionHeader{};
  header->serial = view->serial;
  header->magic = kConnectionMagic;
  header->version = kConnectionVersion;
  header->ring_capacity = capacity;
  header->arena_bytes = arena_bytes;
  header->service_index = service.index;
  header->service_generation = service.generation;
  header->client_pid = static_cast<uint64_t>(self.pid);
  header->client_token = self.token;
  header->client_host = HostId();
  const std::string& name = view->own->name();
  std::memcpy(header->segment_id, name.data() + name.size() - kSegmentIdBytes, kSegmentIdBytes);
  // Counted from zero; readers may see the zeros late, as they see every count (Record).
  new (view->counters) ConnectionCounters{};
  // The segment is fresh from the kernel: its rings, counters and cancel words are zeros already.
  mapping.visibility().WriteBack(view->header, sizeof(ConnectionHeader));
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
  uint64_t arena_bytes = header->arena_bytes;
  if (magic != kConnectionMagic || version != kConnectionVersion || serial == 0 ||
      serial >= (uint64_t{1} << 54) || !IsValidRingCapacity(capacity) ||
      !IsValidArenaBytes(arena_bytes) || header->service_index != service.index ||
      header->service_generation != service.generation) {
    return false;
  }
  ConnectionGeometry geometry(capacity);
  if (Allocator::PayloadCapacity(Allocator::SizeClassOf(block)) < geometry.payload_bytes()) {
    return false;
  }
  FillHeader(mapping, block_offset, capacity, view);
  view->serial = serial;
  view->arena_bytes = arena_bytes;
  return true;
}

Status AcceptSegments(const std::string& pool_path, ConnectionView* view) {
  ConnectionGeometry geometry = view->geometry();
  // Copied once: Segment::Open refuses a name that is not hex.
  char id[kSegmentIdBytes];
  std::memcpy(id, view->header->segment_id, sizeof(id));
  std::string client_name = ClientSegmentName(pool_path, id);
  std::unique_ptr<Segment> client;
  // The arena is sparse: touching it before the client writes there would make it memory.
  Status status = Segment::Open(pool_path, client_name, geometry.requests_bytes(), &client,
                                geometry.requests_arena());
  if (!status.ok()) return status;
  client->CloseDescriptor();
  if (!client->Reach(geometry.requests_bytes())) {
    return Status(StatusCode::FAILED_PRECONDITION,
                  "segment " + client_name + " is shorter than its connection's rings");
  }
  std::unique_ptr<Segment> own;
  status = Segment::CreateSparse(
      pool_path, Segment::PartnerName(client_name, SelfIdentity().token, kServerSegmentSuffix),
      geometry.responses_arena(), geometry.responses_bytes(), client->owner().uid, &own);
  if (!status.ok()) return status;
  own->CloseDescriptor();
  auto* responses = reinterpret_cast<DirectionHeader*>(own->base());
  // Zeros are an open, empty ring; this side has the client's segment mapped.
  responses->peer_opened.store(1, std::memory_order_relaxed);
  FillRings(client->base(), own->base(), view);
  view->own = std::move(own);
  view->peer = std::move(client);
  Visibility::FetchOr(&view->header->lifecycle, kServerSegmentReady);
  return Status::OK;
}

ServerSegment AttachServerSegment(const std::string& pool_path, const ServerOfConnection& server,
                                  ConnectionView* view) {
  Segment* peer = view->peer.get();
  if (!peer->opened()) {
    if (!(Visibility::LoadOrdered(&view->header->lifecycle) & kServerSegmentReady)) {
      return ServerSegment::kNotYet;
    }
    // Refuses, before mapping a byte of it, a file another user planted there.
    Status attached = peer->Attach(
        pool_path, Segment::PartnerName(view->own->name(), server.token, kServerSegmentSuffix),
        server.uid);
    if (attached.error_code() == StatusCode::NOT_FOUND) return ServerSegment::kNotYet;
    if (!attached.ok()) return ServerSegment::kImpostor;
  }
  // The server may still be sizing it.
  if (!peer->Reach(view->geometry().responses_bytes())) {
    return ServerSegment::kNotYet;
  }
  peer->CloseDescriptor();
  return ServerSegment::kAttached;
}

namespace {

// Where the direction of `sender` has its arena and released list, for the process on `self`.
struct DirectionParts {
  ArenaPlace arena;
  SharedWord* released;  // its sender's released list: blocks of the other direction's arena
  DirectionHeader* header;
};

DirectionParts PartsOf(const ConnectionView& view, Side self, Side sender) {
  ConnectionGeometry geometry = view.geometry();
  bool client = sender == Side::kClient;
  const std::shared_ptr<Segment>& segment = sender == self ? view.own : view.peer;
  uint64_t arena = client ? geometry.requests_arena() : geometry.responses_arena();
  uint64_t released = client ? geometry.requests_released() : geometry.responses_released();
  return DirectionParts{ArenaPlace{segment, arena, view.arena_bytes},
                        reinterpret_cast<SharedWord*>(segment->base() + released),
                        client ? view.requests : view.responses};
}

Side OtherSide(Side side) { return side == Side::kClient ? Side::kServer : Side::kClient; }

}  // namespace

std::unique_ptr<SenderArena> SenderArenaOf(const ConnectionView& view, Side side,
                                           const Visibility* visibility,
                                           std::function<Status(uint64_t)> charge,
                                           std::string option) {
  if (view.arena_bytes == 0) return nullptr;
  DirectionParts own = PartsOf(view, side, side);
  DirectionParts peer = PartsOf(view, side, OtherSide(side));
  // The server maps the client's segment before it takes the connection; the client maps the
  // server's later (AttachServerSegment).
  return std::make_unique<SenderArena>(
      own.arena, peer.released, view.geometry().released_capacity(), &peer.header->released_count,
      &own.header->peer_released_consumed, visibility, std::move(charge), std::move(option),
      side == Side::kServer);
}

std::unique_ptr<ReceiverArena> ReceiverArenaOf(const ConnectionView& view, Side side,
                                               const Visibility* visibility) {
  if (view.arena_bytes == 0) return nullptr;
  DirectionParts own = PartsOf(view, side, side);
  DirectionParts peer = PartsOf(view, side, OtherSide(side));
  return std::make_unique<ReceiverArena>(
      peer.arena, own.released, view.geometry().released_capacity(), &own.header->released_count,
      &peer.header->peer_released_consumed, visibility);
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
  // Without rings, the reclaim above took every block already.
  if (view.has_rings()) FreeUnread(allocator, view);
  allocator->Free(view.block_offset);
}

void MarkForSweep(const ConnectionView& view) {
  Visibility::FetchOr(&view.header->lifecycle, kSweepOnFree);
}

}  // namespace notnets::internal
