#include "channel/connection_report.h"

#include "channel/load_while_others_write.h"

namespace notnets::internal {

namespace {

// Fills `*report` if the block at `block_offset`, of `capacity` payload bytes and owned by
// `owner`, is a connection to `service` that its client still holds.
bool ReadConnection(const PoolMapping& mapping, uint64_t block_offset, uint64_t capacity,
                    uint64_t owner, const ServiceRef& service, ConnectionReport* report) {
  // A connection block belongs to its client endpoint (serial << 1, never below 2).
  if (owner < 2 || (owner & 1) != 0) return false;
  const auto* header = mapping.At<ConnectionHeader>(block_offset + kCacheLineBytes);
  uint64_t magic = LoadWhileOthersWrite(header->magic);
  uint32_t version = LoadWhileOthersWrite(header->version);
  uint32_t ring_capacity = LoadWhileOthersWrite(header->ring_capacity);
  uint64_t serial = LoadWhileOthersWrite(header->serial);
  uint32_t index = LoadWhileOthersWrite(header->service_index);
  uint64_t generation = LoadWhileOthersWrite(header->service_generation);
  uint64_t lifecycle = header->lifecycle.load(std::memory_order_relaxed);
  if (magic != kConnectionMagic || version != kConnectionVersion || serial != owner >> 1 ||
      index != service.index || generation != service.generation ||
      !IsValidRingCapacity(ring_capacity) || (lifecycle & kClientDetached) != 0) {
    return false;
  }
  ConnectionGeometry geometry(ring_capacity);
  if (capacity < geometry.payload_bytes()) return false;
  const auto* counters = mapping.At<ConnectionCounters>(block_offset + geometry.counters());
  report->serial = serial;
  report->client_pid = static_cast<int32_t>(LoadWhileOthersWrite(header->client_pid));
  // Plain loads: on memory without coherence the counts come as late as the client's cache
  // writes them back (they are Recorded), which is soon enough for a display.
  report->calls_answered = counters->calls_answered.load(std::memory_order_relaxed);
  report->calls_failed = counters->calls_failed.load(std::memory_order_relaxed);
  for (uint32_t bucket = 0; bucket < kLatencyBuckets; ++bucket) {
    report->latency[bucket] = counters->latency[bucket].load(std::memory_order_relaxed);
  }
  return true;
}

}  // namespace

std::vector<ConnectionReport> ReadConnectionReports(const Allocator& allocator,
                                                    const ServiceRef& service) {
  std::vector<ConnectionReport> reports;
  const PoolMapping& mapping = *allocator.mapping();
  uint64_t top = Visibility::LoadOrdered(&mapping.header()->allocator.heap_top);
  if (top > mapping.heap_end()) return reports;
  for (uint64_t offset = mapping.heap_offset(); offset < top;) {
    uint64_t capacity;
    BlockHeader* block = allocator.ValidBlock(offset, &capacity);
    if (block == nullptr) break;  // a block being split right now: the rest is left out
    uint64_t ownership = block->ownership.load(std::memory_order_relaxed);
    ConnectionReport report;
    if (static_cast<BlockState>(ownership & 0xff) == BlockState::kOwned &&
        ReadConnection(mapping, offset, capacity, ownership >> 8, service, &report)) {
      reports.push_back(report);
    }
    offset += capacity + kBlockHeaderBytes;
  }
  return reports;
}

}  // namespace notnets::internal
