#include "pool/service_report.h"

#include "pool/allocator.h"
#include "pool/process_identity.h"

namespace notnets::internal {

namespace {

// Adds up the counters block at pool offset `offset`; false if it does not validate.
bool ReadCounters(const PoolMapping& mapping, const Allocator& allocator, uint64_t offset,
                  CounterTotals* totals) {
  uint64_t capacity = 0;
  if (offset == 0 || allocator.ValidBlock(offset, &capacity) == nullptr ||
      capacity < sizeof(CountersHeader)) {
    return false;
  }
  const Visibility& visibility = mapping.visibility();
  const auto* header = mapping.At<CountersHeader>(offset + kBlockHeaderBytes);
  visibility.Invalidate(header, sizeof(CountersHeader));
  uint32_t magic = header->magic;
  uint32_t slab_count = header->slab_count;
  uint32_t workers = header->worker_count;
  if (magic != kCountersMagic || slab_count == 0 || slab_count > kMaxCounterSlabs ||
      workers != slab_count - 1 || CountersBytes(slab_count) > capacity) {
    return false;
  }
  totals->workers = workers;
  totals->server_uid = header->server_uid;
  totals->started_unix_ns = header->started_unix_ns;
  totals->connections_open = visibility.Consume(&header->connections_open);
  const auto* slabs = reinterpret_cast<const CounterSlab*>(header + 1);
  for (uint32_t i = 0; i < slab_count; ++i) {
    const CounterSlab& slab = slabs[i];
    visibility.Invalidate(&slab, sizeof(slab));
    totals->calls_started += visibility.Consume(&slab.calls_started);
    totals->calls_finished += visibility.Consume(&slab.calls_finished);
    totals->latency_sum_ns += visibility.Consume(&slab.latency_sum_ns);
    if (i < workers && visibility.Consume(&slab.busy) != 0) ++totals->busy_workers;
    for (uint32_t code = 0; code < kCountedStatusCodes; ++code) {
      totals->by_code[code] += visibility.Consume(&slab.by_code[code]);
    }
    for (uint32_t bucket = 0; bucket < kLatencyBuckets; ++bucket) {
      totals->latency[bucket] += visibility.Consume(&slab.latency[bucket]);
    }
  }
  return true;
}

}  // namespace

std::vector<ServiceReport> ReadServiceReports(PoolMapping* mapping) {
  Allocator allocator(mapping);
  Directory directory(mapping, &allocator);
  const Visibility& visibility = mapping->visibility();
  std::vector<ServiceReport> reports;
  for (uint32_t i = 0; i < mapping->max_services(); ++i) {
    ServiceEntry* entry = directory.entry(i);
    uint64_t state = visibility.Consume(&entry->state);
    if (StateOf(state) != ServiceState::kActive && StateOf(state) != ServiceState::kClosing) {
      continue;
    }
    ServiceReport report;
    report.index = i;
    report.generation = GenerationOf(state);
    report.closing = StateOf(state) == ServiceState::kClosing;
    report.name = directory.ListedNameOf(i, state);
    if (report.name.empty()) continue;
    visibility.Invalidate(entry, sizeof(*entry));
    ProcessIdentity server{static_cast<int32_t>(entry->server_pid.load(std::memory_order_relaxed)),
                           entry->server_token.load(std::memory_order_relaxed)};
    report.server_pid = server.pid;
    report.server_alive = IsAlive(server);
    report.connections_accepted = entry->connections_accepted.load(std::memory_order_relaxed);
    report.replica = entry->replica.mode.load(std::memory_order_relaxed) ==
                     static_cast<uint64_t>(ReplicaMode::kReplica);
    report.host_id = entry->replica.host_id.load(std::memory_order_relaxed);
    std::vector<ServiceView> views;
    if (!report.closing && directory.LookupAll(report.name, &views).ok()) {
      for (const ServiceView& view : views) {
        if (view.ref.index == i) report.method_count = static_cast<uint32_t>(view.methods.size());
      }
    }
    uint64_t counters = visibility.Consume(&entry->counters.block_offset);
    report.has_counters = ReadCounters(*mapping, allocator, counters, &report.counters);
    // Another server may have taken the entry while we read it: then nothing read is its.
    uint64_t now = visibility.Consume(&entry->state);
    if (GenerationOf(now) != report.generation || StateOf(now) == ServiceState::kFree) continue;
    reports.push_back(report);
  }
  return reports;
}

}  // namespace notnets::internal
