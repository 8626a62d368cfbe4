#include "channel/orphans.h"

#include <unordered_map>

#include "channel/connection.h"
#include "channel/load_while_others_write.h"
#include "pool/process_identity.h"

namespace notnets::internal {

namespace {

// Reads once the fields of the header of the connection block at `block_offset` that say which
// connection it is. True, with the service it was made for in `*service`, if the header names the
// block's owner `owner` (magic and serial): its client wrote it, for this allocation of the block.
bool NamedService(const PoolMapping& mapping, uint64_t block_offset, uint64_t owner,
                  ServiceRef* service) {
  // Any block may be read here, one this process wrote and handed to a peer among them.
  AnnotateTakeOver(mapping.At<BlockHeader>(block_offset));
  const auto* header = mapping.At<ConnectionHeader>(block_offset + kCacheLineBytes);
  mapping.visibility().Invalidate(header, sizeof(*header));
  uint64_t magic = LoadWhileOthersWrite(header->magic);
  uint64_t serial = LoadWhileOthersWrite(header->serial);
  if (magic != kConnectionMagic || serial != owner >> 1) return false;
  *service = ServiceRef{LoadWhileOthersWrite(header->service_index),
                        LoadWhileOthersWrite(header->service_generation)};
  return true;
}

// True if the block at `block_offset` (owned by `owner`) is a connection to an earlier
// generation of `service` whose client has died; fills `*view`.
bool IsOrphan(const Allocator& allocator, uint64_t block_offset, uint64_t owner,
              const ServiceRef& service, ConnectionView* view) {
  // A connection block belongs to its client endpoint (serial << 1, never below 2).
  if (owner < 2 || (owner & 1) != 0) return false;
  const PoolMapping& mapping = *allocator.mapping();
  ServiceRef named;
  // OpenConnection validates the rest for the generation read here.
  if (!NamedService(mapping, block_offset, owner, &named) || named.index != service.index ||
      named.generation >= service.generation) {
    return false;
  }
  if (!OpenConnection(allocator, block_offset, named, view) || view->serial != owner >> 1) {
    return false;
  }
  const auto* header = mapping.At<ConnectionHeader>(block_offset + kCacheLineBytes);
  ProcessIdentity client{static_cast<int32_t>(header->client_pid), header->client_token};
  return !IsAlive(client);
}

// A connection block whose creator was judged dead, as it was then.
struct DeadCreatorsBlock {
  uint64_t offset;
  uint64_t ownership;
};

// The connection blocks that processes now dead allocated for their client endpoints.
std::vector<DeadCreatorsBlock> BlocksOfDeadCreators(const Allocator& allocator) {
  const PoolMapping& mapping = *allocator.mapping();
  std::vector<DeadCreatorsBlock> found;
  // Many blocks usually share a few creators: the kernel or the lease table is asked once each.
  std::unordered_map<uint64_t, bool> alive;
  uint64_t top = Visibility::LoadOrdered(&mapping.header()->allocator.heap_top);
  if (top > mapping.heap_end()) return found;
  for (uint64_t offset = mapping.heap_offset(); offset < top;) {
    uint64_t capacity;
    BlockHeader* block = allocator.ValidBlock(offset, &capacity);
    if (block == nullptr) break;  // a block being split right now: the rest waits for next time
    // The owner first: Allocate stores the creator before it (a creator read after an owner
    // belongs to that owner's allocation, or to a later one, which changes the owner).
    uint64_t ownership = block->ownership.load(std::memory_order_acquire);
    uint64_t creator = block->creator.load(std::memory_order_relaxed);
    uint64_t owner = ownership >> 8;
    // Only connection blocks have a creator; they belong to a client endpoint (serial << 1).
    if (static_cast<BlockState>(ownership & 0xff) == BlockState::kOwned && creator != 0 &&
        owner >= 2 && (owner & 1) == 0) {
      auto known = alive.find(creator);
      if (known == alive.end()) {
        known = alive.emplace(creator, IsAlive(ProcessIdentity{0, creator})).first;
      }
      if (!known->second) found.push_back(DeadCreatorsBlock{offset, ownership});
    }
    offset += capacity + kBlockHeaderBytes;
  }
  return found;
}

// True if no server can hold `block`, a connection block of a dead creator, after every
// connection pushed on `services`' stacks was accepted.
bool NoServerHolds(const Allocator& allocator, const DeadCreatorsBlock& block,
                   const std::vector<ServiceRef>& services) {
  const PoolMapping& mapping = *allocator.mapping();
  // The client pushes a connection only after its header reached memory (CreateConnection
  // writes it back): a header that does not name the block's own endpoint was never pushed, and
  // no server can know the block.
  ServiceRef named;
  if (!NamedService(mapping, block.offset, block.ownership >> 8, &named)) return true;
  bool ours = false;
  for (const ServiceRef& service : services) {
    ours = ours || (service.index == named.index && service.generation == named.generation);
  }
  // A server that takes a connection marks it before it can serve or refuse it
  // (AcceptSegments), or detaches from it.
  const auto* header = mapping.At<ConnectionHeader>(block.offset + kCacheLineBytes);
  return ours && Visibility::LoadOrdered(&header->lifecycle) == 0;
}

}  // namespace

uint64_t FreeUnacceptedConnectionsOfDeadClients(Allocator* allocator,
                                                const std::vector<ServiceRef>& services,
                                                const std::function<void()>& accept_pending) {
  std::vector<DeadCreatorsBlock> blocks = BlocksOfDeadCreators(*allocator);
  if (blocks.empty()) return 0;
  // A dead client pushes nothing more: what it pushed before it died is taken now.
  accept_pending();
  uint64_t freed = 0;
  for (const DeadCreatorsBlock& block : blocks) {
    if (!NoServerHolds(*allocator, block, services)) continue;
    // Servers of other services may sweep the same unnamed block: the one whose exchange takes
    // the block from its dead owner frees it.
    uint64_t expected = block.ownership;
    auto* header = allocator->mapping()->At<BlockHeader>(block.offset);
    if (Visibility::CompareExchange(&header->ownership, expected,
                                    BlockOwnership(0, BlockState::kOwned))) {
      allocator->Free(block.offset);
      ++freed;
    }
  }
  return freed;
}

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
