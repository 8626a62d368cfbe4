#include "rpc/service_counters.h"

#include <unistd.h>

#include <chrono>
#include <cstring>

namespace notnets::internal {

ServiceCounters::ServiceCounters(PoolMapping* mapping, Allocator* allocator,
                                 const Directory& directory, const ServiceRef& ref,
                                 uint32_t workers)
    : visibility_(mapping->visibility()), workers_(workers), local_(new Local[workers + 1]) {
  uint32_t slabs = workers + 1;
  uint64_t bytes = CountersBytes(slabs);
  uint64_t offset = 0;
  uint8_t* block = nullptr;
  if (allocator->Allocate(bytes, 0, &offset).ok()) {
    block = mapping->At<uint8_t>(offset + kBlockHeaderBytes);
  } else {
    // Over-allocated by a line so that the slabs keep their alignment.
    private_block_.reset(new uint8_t[bytes + kCacheLineBytes]);
    uintptr_t address = reinterpret_cast<uintptr_t>(private_block_.get());
    block = private_block_.get() + (kCacheLineBytes - address % kCacheLineBytes) % kCacheLineBytes;
  }
  std::memset(block, 0, bytes);
  header_ = reinterpret_cast<CountersHeader*>(block);
  shared_ = reinterpret_cast<CounterSlab*>(block + sizeof(CountersHeader));
  header_->magic = kCountersMagic;
  header_->slab_count = slabs;
  header_->worker_count = workers;
  header_->server_uid = static_cast<uint32_t>(::geteuid());
  header_->started_unix_ns =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  if (offset != 0) {
    visibility_.WriteBack(block, bytes);
    visibility_.Publish(&directory.entry(ref.index)->counters.block_offset, offset);
  }
}

void ServiceCounters::SetConnectionsOpen(uint64_t count) {
  visibility_.Publish(&header_->connections_open, count);
}

void ServiceCounters::WriteBack() const {
  visibility_.WriteBack(shared_, uint64_t{workers_ + 1} * sizeof(CounterSlab));
}

uint64_t ServiceCounters::StartedSoFar() const {
  uint64_t total = 0;
  for (uint32_t slab = 0; slab <= workers_; ++slab) {
    total += visibility_.Consume(&shared_[slab].calls_started);
  }
  return total;
}

uint64_t ServiceCounters::FinishedSoFar() const {
  uint64_t total = 0;
  for (uint32_t slab = 0; slab <= workers_; ++slab) {
    total += visibility_.Consume(&shared_[slab].calls_finished);
  }
  return total;
}

}  // namespace notnets::internal
