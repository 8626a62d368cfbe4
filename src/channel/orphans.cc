#include "channel/orphans.h"

#include "channel/connection.h"
#include "channel/load_while_others_write.h"
#include "pool/process_identity.h"

namespace notnets::internal {

namespace {

// True if the block at `block_offset` (owned by `owner`) is a connection to an earlier
// generation of `service` whose client has died; fills `*view`.
bool IsOrphan(const Allocator& allocator, uint64_t block_offset, uint64_t owner,
              const ServiceRef& service, ConnectionView* view) {
  // A connection block belongs to its client endpoint (serial << 1, never below 2).
  if (owner < 2 || (owner & 1) != 0) return false;
  const PoolMapping& mapping = *allocator.mapping();
  // Any block may be read here, one this process wrote and handed to a peer among them.
  AnnotateTakeOver(mapping.At<BlockHeader>(block_offset));
  const auto* header = mapping.At<ConnectionHeader>(block_offset + kCacheLineBytes);
  mapping.visibility().Invalidate(header, sizeof(*header));
  // Read once; OpenConnection validates the rest for the generation read here.
  uint64_t magic = LoadWhileOthersWrite(header->magic);
  uint64_t serial = LoadWhileOthersWrite(header->serial);
  uint32_t index = LoadWhileOthersWrite(header->service_index);
  uint64_t generation = LoadWhileOthersWrite(header->service_generation);
  if (magic != kConnectionMagic || serial != owner >> 1 || index != service.index ||
      generation >= service.generation) {
    return false;
  }
  if (!OpenConnection(allocator, block_offset, ServiceRef{index, generation}, view) ||
      view->serial != serial) {
    return false;
  }
  ProcessIdentity client{static_cast<int32_t>(header->client_pid), header->client_token};
  return !IsAlive(client);
}

}  // namespace

uint64_t FreeOrphanedConnections(Allocator* allocator, const ServiceRef& service) {
  const PoolMapping& mapping = *allocator->mapping();
  uint64_t freed = 0;
  uint64_t top = Visibility::LoadOrdered(&mapping.header()->allocator.heap_top);
  if (top > mapping.heap_end()) return 0;
  for (uint64_t offset = mapping.heap_offset(); offset < top;) {
    uint64_t capacity;
    BlockHeader* block = allocator->ValidBlock(offset, &capacity);
    if (block == nullptr) break;  // a block being split right now: the rest waits for next time
    uint64_t ownership = block->ownership.load(std::memory_order_relaxed);
    ConnectionView view;
    if (static_cast<BlockState>(ownership & 0xff) == BlockState::kOwned &&
        IsOrphan(*allocator, offset, ownership >> 8, service, &view)) {
      FreeAbandonedConnection(allocator, view);
      ++freed;
    }
    offset += capacity + kBlockHeaderBytes;
  }
  return freed;
}

}  // namespace notnets::internal
