// Shared-memory layouts: sizes and offsets that other processes (and versions) rely on.
#include "pool/layout.h"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <sstream>
#include <string>

#include "channel/connection_layout.h"
#include "channel/descriptor.h"
#include "gtest/gtest.h"
#include "pool/block.h"
#include "pool/call_window.h"
#include "pool/counters_layout.h"
#include "pool/directory.h"
#include "pool/lease_table.h"

namespace notnets::internal {
namespace {

// The shape of everything the pool holds: every shared-memory struct's size, alignment and the
// offset and size of each of its fields, the magic numbers, and where a connection's parts lie.
// Processes built from different sources share a pool only if this is the same for both.
std::string LayoutDescription() {
  std::ostringstream out;
#define NOTNETS_STRUCT(type) out << "\n" #type " " << sizeof(type) << "/" << alignof(type) << ":"
#define NOTNETS_FIELD(type, field) \
  out << " " #field "@" << offsetof(type, field) << "+" << sizeof(type::field)
  NOTNETS_STRUCT(PoolHeader);
  NOTNETS_FIELD(PoolHeader, magic);
  NOTNETS_FIELD(PoolHeader, layout_version);
  NOTNETS_FIELD(PoolHeader, header_bytes);
  NOTNETS_FIELD(PoolHeader, pool_bytes);
  NOTNETS_FIELD(PoolHeader, coherence);
  NOTNETS_FIELD(PoolHeader, max_services);
  NOTNETS_FIELD(PoolHeader, directory_offset);
  NOTNETS_FIELD(PoolHeader, heap_offset);
  NOTNETS_FIELD(PoolHeader, heap_bytes);
  NOTNETS_FIELD(PoolHeader, created_unix_ns);
  NOTNETS_FIELD(PoolHeader, call_window_offset);
  NOTNETS_FIELD(PoolHeader, call_window_slots);
  NOTNETS_FIELD(PoolHeader, reserved0);
  NOTNETS_FIELD(PoolHeader, checksum);
  NOTNETS_FIELD(PoolHeader, connection_serial);
  NOTNETS_FIELD(PoolHeader, reserved1);
  NOTNETS_FIELD(PoolHeader, allocator);
  NOTNETS_STRUCT(AllocatorState);
  NOTNETS_FIELD(AllocatorState, heap_top);
  NOTNETS_FIELD(AllocatorState, reserved);
  NOTNETS_FIELD(AllocatorState, free_heads);
  NOTNETS_STRUCT(ServiceEntry);
  NOTNETS_FIELD(ServiceEntry, state);
  NOTNETS_FIELD(ServiceEntry, pending_connections);
  NOTNETS_FIELD(ServiceEntry, server_pid);
  NOTNETS_FIELD(ServiceEntry, server_token);
  NOTNETS_FIELD(ServiceEntry, methods_offset);
  NOTNETS_FIELD(ServiceEntry, connections_accepted);
  NOTNETS_FIELD(ServiceEntry, name_length);
  NOTNETS_FIELD(ServiceEntry, name_words);
  NOTNETS_FIELD(ServiceEntry, server_uid);
  NOTNETS_FIELD(ServiceEntry, access);
  NOTNETS_STRUCT(ServiceAccess);
  NOTNETS_FIELD(ServiceAccess, callers);
  NOTNETS_FIELD(ServiceAccess, caller_ids);
  NOTNETS_FIELD(ServiceAccess, owner);
  NOTNETS_FIELD(ServiceAccess, registrants);
  NOTNETS_FIELD(ServiceEntry, doorbell_entry);
  NOTNETS_FIELD(ServiceEntry, doorbell_sequence);
  NOTNETS_FIELD(ServiceEntry, doorbell_sleepers);
  NOTNETS_FIELD(ServiceEntry, counters);
  NOTNETS_FIELD(ServiceEntry, replica);
  NOTNETS_FIELD(ServiceEntry, server_uid);
  NOTNETS_STRUCT(ReplicaRef);
  NOTNETS_FIELD(ReplicaRef, mode);
  NOTNETS_FIELD(ReplicaRef, host_id);
  NOTNETS_FIELD(ReplicaRef, reserved);
  NOTNETS_STRUCT(ServiceCountersRef);
  NOTNETS_FIELD(ServiceCountersRef, block_offset);
  NOTNETS_FIELD(ServiceCountersRef, reserved);
  NOTNETS_STRUCT(CountersHeader);
  NOTNETS_FIELD(CountersHeader, magic);
  NOTNETS_FIELD(CountersHeader, slab_count);
  NOTNETS_FIELD(CountersHeader, worker_count);
  NOTNETS_FIELD(CountersHeader, server_uid);
  NOTNETS_FIELD(CountersHeader, started_unix_ns);
  NOTNETS_FIELD(CountersHeader, connections_open);
  NOTNETS_FIELD(CountersHeader, reserved);
  NOTNETS_STRUCT(CounterSlab);
  NOTNETS_FIELD(CounterSlab, calls_started);
  NOTNETS_FIELD(CounterSlab, calls_finished);
  NOTNETS_FIELD(CounterSlab, busy);
  NOTNETS_FIELD(CounterSlab, latency_sum_ns);
  NOTNETS_FIELD(CounterSlab, by_code);
  NOTNETS_FIELD(CounterSlab, latency);
  NOTNETS_FIELD(CounterSlab, reserved1);
  NOTNETS_STRUCT(CallWindowSlot);
  NOTNETS_FIELD(CallWindowSlot, token);
  NOTNETS_FIELD(CallWindowSlot, state);
  NOTNETS_FIELD(CallWindowSlot, runner_token);
  NOTNETS_FIELD(CallWindowSlot, response_block);
  NOTNETS_FIELD(CallWindowSlot, response_length);
  NOTNETS_FIELD(CallWindowSlot, inline_words);
  NOTNETS_STRUCT(LeaseTableHeader);
  NOTNETS_FIELD(LeaseTableHeader, magic);
  NOTNETS_FIELD(LeaseTableHeader, period_ns);
  NOTNETS_FIELD(LeaseTableHeader, slots);
  NOTNETS_FIELD(LeaseTableHeader, reserved0);
  NOTNETS_FIELD(LeaseTableHeader, reserved1);
  NOTNETS_STRUCT(LeaseRecord);
  NOTNETS_FIELD(LeaseRecord, lease);
  NOTNETS_FIELD(LeaseRecord, token);
  NOTNETS_FIELD(LeaseRecord, host);
  NOTNETS_FIELD(LeaseRecord, pid);
  NOTNETS_FIELD(LeaseRecord, reserved);
  NOTNETS_STRUCT(BlockHeader);
  NOTNETS_FIELD(BlockHeader, format);
  NOTNETS_FIELD(BlockHeader, ownership);
  NOTNETS_FIELD(BlockHeader, next_free);
  NOTNETS_FIELD(BlockHeader, creator);
  NOTNETS_FIELD(BlockHeader, reserved);
  NOTNETS_STRUCT(ConnectionHeader);
  NOTNETS_FIELD(ConnectionHeader, magic);
  NOTNETS_FIELD(ConnectionHeader, version);
  NOTNETS_FIELD(ConnectionHeader, ring_capacity);
  NOTNETS_FIELD(ConnectionHeader, service_index);
  NOTNETS_FIELD(ConnectionHeader, reserved0);
  NOTNETS_FIELD(ConnectionHeader, service_generation);
  NOTNETS_FIELD(ConnectionHeader, client_pid);
  NOTNETS_FIELD(ConnectionHeader, client_token);
  NOTNETS_FIELD(ConnectionHeader, serial);
  NOTNETS_FIELD(ConnectionHeader, arena_bytes);
  NOTNETS_FIELD(ConnectionHeader, lifecycle);
  NOTNETS_FIELD(ConnectionHeader, next_pending);
  NOTNETS_FIELD(ConnectionHeader, segment_id);
  NOTNETS_FIELD(ConnectionHeader, client_host);
  NOTNETS_FIELD(ConnectionHeader, reserved2);
  NOTNETS_STRUCT(ConnectionCounters);
  NOTNETS_FIELD(ConnectionCounters, calls_answered);
  NOTNETS_FIELD(ConnectionCounters, calls_failed);
  NOTNETS_FIELD(ConnectionCounters, latency_sum_ns);
  NOTNETS_FIELD(ConnectionCounters, reserved0);
  NOTNETS_FIELD(ConnectionCounters, latency);
  NOTNETS_STRUCT(DirectionHeader);
  NOTNETS_FIELD(DirectionHeader, peer_consumed);
  NOTNETS_FIELD(DirectionHeader, peer_opened);
  NOTNETS_FIELD(DirectionHeader, released_count);
  NOTNETS_FIELD(DirectionHeader, peer_released_consumed);
  NOTNETS_FIELD(DirectionHeader, reserved0);
  NOTNETS_FIELD(DirectionHeader, closed);
  NOTNETS_FIELD(DirectionHeader, sleepers);
  NOTNETS_FIELD(DirectionHeader, wake_sequence);
  NOTNETS_FIELD(DirectionHeader, reserved1);
  NOTNETS_STRUCT(Descriptor);
  NOTNETS_FIELD(Descriptor, sequence);
  NOTNETS_FIELD(Descriptor, call_id);
  NOTNETS_FIELD(Descriptor, code);
  NOTNETS_FIELD(Descriptor, flags);
  NOTNETS_FIELD(Descriptor, inline_length);
  NOTNETS_FIELD(Descriptor, timeout_ns);
  NOTNETS_FIELD(Descriptor, metadata_offset);
  NOTNETS_FIELD(Descriptor, payload);
  NOTNETS_STRUCT(BlockPayload);
  NOTNETS_FIELD(BlockPayload, block_offset);
  NOTNETS_FIELD(BlockPayload, length);
#undef NOTNETS_FIELD
#undef NOTNETS_STRUCT
  out << "\nleases " << kLeaseTableMagic << " " << kLeaseSlots << " " << kLeaseFenced << " "
      << kLeaseClaiming << " " << kLeaseGenerationMask;
  out << "\nmagic " << kPoolMagic << " " << kBlockMagic << " " << kConnectionMagic << " "
      << kConnectionVersion << " " << kCountersMagic << "\nheader " << kPoolHeaderBytes
      << " blocks " << kMinBlockShift << ".." << kMaxBlockShift;
  for (uint32_t capacity = kMinRingCapacity; capacity <= kMaxRingCapacity; capacity *= 2) {
    ConnectionGeometry geometry(capacity);
    out << "\nconnection " << capacity << ": " << geometry.payload_bytes() << " "
        << geometry.cancel_words() << " " << geometry.requests_bytes() << " "
        << geometry.responses_bytes() << " " << geometry.released_capacity() << " "
        << geometry.requests_released() << " " << geometry.responses_released() << " "
        << geometry.requests_arena() << " " << geometry.responses_arena();
  }
  return out.str();
}

uint64_t Fingerprint(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ull;
  return hash;
}

// The layout fingerprint of each layout version, oldest first. Version 1 predates the
// fingerprint; its layout changed three times without a bump.
struct RecordedLayout {
  uint32_t version;
  uint64_t fingerprint;
};
constexpr RecordedLayout kRecordedLayouts[] = {
    {2, 0x4f99812ec3cdfd7bull},  {3, 0x7ff7689c93a4ff2ull},   {4, 0x599433d588e7dd06ull},
    {5, 0x337bd6596e94ccf3ull},  {6, 0xc402c0527d4e0b5cull},  {7, 0x3c84a8ed4dc9e66bull},
    {8, 0x5f07a392a614f14eull},  {9, 0x5b0139165280634full},  {10, 0x14563d944fd96022ull},
    {11, 0x98d94392312166e1ull}, {12, 0xa1463b9e0eab79faull}, {13, 0xcfc72adb0253e44full},
    {14, 0xe7216e8698c943c3ull},
};

TEST(LayoutTest, FingerprintIsTheOneRecordedForTheLayoutVersion) {
  std::string description = LayoutDescription();
  uint64_t fingerprint = Fingerprint(description);
  const RecordedLayout& newest = kRecordedLayouts[std::size(kRecordedLayouts) - 1];
  ASSERT_EQ(newest.version, kPoolLayoutVersion)
      << "kPoolLayoutVersion is " << kPoolLayoutVersion << " but the newest recorded layout is "
      << newest.version << ": record {" << kPoolLayoutVersion << ", 0x" << std::hex << fingerprint
      << "ull} in kRecordedLayouts";
  EXPECT_EQ(newest.fingerprint, fingerprint)
      << "the layout changed: bump kPoolLayoutVersion and record the new fingerprint {"
      << kPoolLayoutVersion + 1 << ", 0x" << std::hex << fingerprint
      << "ull} in kRecordedLayouts (and describe the change in docs/memory-layout.md). Layout:"
      << description;
  for (const RecordedLayout& older : kRecordedLayouts) {
    if (&older != &newest) {
      EXPECT_NE(older.fingerprint, fingerprint) << "an old layout came back";
    }
  }
}

TEST(LayoutTest, ConnectionGeometryKeepsDirectionsApartAndAligned) {
  for (uint32_t capacity = kMinRingCapacity; capacity <= kMaxRingCapacity; capacity *= 2) {
    ConnectionGeometry geometry(capacity);
    EXPECT_EQ(geometry.cancel_words() % kCacheLineBytes, 0u);
    EXPECT_EQ(geometry.cancel_words(), geometry.ring_bytes());
    EXPECT_GE(geometry.requests_released(),
              geometry.cancel_words() + capacity * sizeof(SharedWord));
    EXPECT_EQ(geometry.responses_released(),
              sizeof(DirectionHeader) + uint64_t{capacity} * sizeof(Descriptor));
    for (uint64_t released : {geometry.requests_released(), geometry.responses_released()}) {
      EXPECT_EQ(released % kCacheLineBytes, 0u);
    }
    EXPECT_GE(geometry.requests_arena(),
              geometry.requests_released() + geometry.released_capacity() * sizeof(SharedWord));
    EXPECT_GE(geometry.responses_arena(),
              geometry.responses_released() + geometry.released_capacity() * sizeof(SharedWord));
    EXPECT_EQ(geometry.requests_arena() % kCacheLineBytes, 0u);
    EXPECT_EQ(geometry.responses_arena() % kCacheLineBytes, 0u);
    EXPECT_EQ(geometry.requests_bytes(), geometry.requests_arena());
    EXPECT_EQ(geometry.payload_bytes(), sizeof(ConnectionHeader) + sizeof(ConnectionCounters));
    EXPECT_EQ(geometry.counters(), geometry.header() + sizeof(ConnectionHeader));
    ConnectionGeometry with_arena(capacity, 1 << 20);
    EXPECT_EQ(with_arena.requests_bytes(), geometry.requests_arena() + (1 << 20));
    EXPECT_EQ(with_arena.responses_bytes(), geometry.responses_arena() + (1 << 20));
  }
}

TEST(LayoutTest, RingCapacityMustBeAPowerOfTwoInRange) {
  EXPECT_TRUE(IsValidRingCapacity(2));
  EXPECT_TRUE(IsValidRingCapacity(4096));
  EXPECT_FALSE(IsValidRingCapacity(0));
  EXPECT_FALSE(IsValidRingCapacity(1));
  EXPECT_FALSE(IsValidRingCapacity(3));
  EXPECT_FALSE(IsValidRingCapacity(8192));
}

TEST(LayoutTest, SizeClassesCoverPayloadPlusHeader) {
  EXPECT_EQ(SizeClassFor(0), kMinBlockShift);
  EXPECT_EQ(SizeClassFor(256 - kBlockHeaderBytes), 8u);
  EXPECT_EQ(SizeClassFor(256 - kBlockHeaderBytes + 1), 9u);
  EXPECT_EQ(SizeClassFor((1u << 20) - kBlockHeaderBytes), 20u);
  EXPECT_EQ(SizeClassFor(1ull << 40), 0u);
}

}  // namespace
}  // namespace notnets::internal
