#include "rpc/replica_load.h"

#include <algorithm>

namespace notnets::internal {

ReplicaLoad::ReplicaLoad(PoolMapping* mapping, const ServiceRef& ref)
    : mapping_(mapping), ref_(ref) {}

bool ReplicaLoad::Resolve() {
  Allocator allocator(mapping_);
  Directory directory(mapping_, &allocator);
  uint64_t offset =
      mapping_->visibility().Consume(&directory.entry(ref_.index)->counters.block_offset);
  uint64_t capacity = 0;
  if (offset == 0 || allocator.ValidBlock(offset, &capacity) == nullptr ||
      capacity < sizeof(CountersHeader)) {
    return false;
  }
  const uint8_t* block = mapping_->At<uint8_t>(offset + kBlockHeaderBytes);
  mapping_->visibility().Invalidate(block, sizeof(CountersHeader));
  const CountersHeader* header = reinterpret_cast<const CountersHeader*>(block);
  uint32_t magic = header->magic;
  uint32_t slabs = header->slab_count;
  uint32_t workers = header->worker_count;
  if (magic != kCountersMagic || workers == 0 || slabs != workers + 1 || slabs > kMaxCounterSlabs ||
      CountersBytes(slabs) > capacity) {
    return false;
  }
  workers_.store(std::min(workers, kMaxSlabsRead), std::memory_order_relaxed);
  slabs_.store(reinterpret_cast<const CounterSlab*>(block + sizeof(CountersHeader)),
               std::memory_order_release);
  return true;
}

bool ReplicaLoad::Read(uint32_t* workers, uint32_t* busy) {
  const CounterSlab* slabs = slabs_.load(std::memory_order_acquire);
  if (slabs == nullptr) {
    if (!Resolve()) return false;
    slabs = slabs_.load(std::memory_order_acquire);
  }
  uint32_t count = workers_.load(std::memory_order_relaxed);
  uint32_t running = 0;
  for (uint32_t i = 0; i < count; ++i) {
    if (mapping_->visibility().Consume(&slabs[i].busy) != 0) ++running;
  }
  *workers = count;
  *busy = running;
  return true;
}

}  // namespace notnets::internal
