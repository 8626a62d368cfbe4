// A model of a pool in memory without cache coherence, checked against what the library does.
//
// ShadowMemory stands in for the visibility primitives (pool/visibility_recorder.h) of the pools
// it watches, each mapping being one "host". It keeps the memory as other hosts would see it:
// the pool's bytes when it started, then each cache line as it was when a host last wrote it back
// (WriteBack, or Publish, which writes back the word's line). A host reads through Invalidate or
// Consume; what it reads that way must be what memory holds, else the writer stored after its
// last write-back (or never wrote back). It also keeps the order of events, so that a test can
// check that each range one host wrote back was later invalidated by another before use.
//
// Read-modify-write atomics (CompareExchange and the like) are assumed coherent, as on CXL
// hardware with shared atomics; they are not modelled.
#ifndef NOTNETS_TESTS_SHADOW_MEMORY_H_
#define NOTNETS_TESTS_SHADOW_MEMORY_H_

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "notnets/pool.h"
#include "pool/block.h"
#include "pool/call_window.h"
#include "pool/counters_layout.h"
#include "pool/directory.h"
#include "pool/lease_table.h"
#include "pool/pool_access.h"
#include "pool/pool_mapping.h"
#include "pool/visibility_recorder.h"

#ifdef NOTNETS_THREAD_SANITIZER
extern "C" void __tsan_ignore_thread_begin();
extern "C" void __tsan_ignore_thread_end();
#endif

namespace notnets::testing {

// The model reads pool memory wholesale (the snapshot, whole lines) while other threads work on
// it through atomics; that is not the race ThreadSanitizer looks for, so it is not shown.
class IgnoredByThreadSanitizer {
 public:
  IgnoredByThreadSanitizer() {
#ifdef NOTNETS_THREAD_SANITIZER
    __tsan_ignore_thread_begin();
#endif
  }
  ~IgnoredByThreadSanitizer() {
#ifdef NOTNETS_THREAD_SANITIZER
    __tsan_ignore_thread_end();
#endif
  }
};

// The [begin, end) pool offsets of the registered services' counters (ServiceCounters), which
// their servers write back every few milliseconds for whoever reads them whenever it does.
inline std::vector<std::pair<uint64_t, uint64_t>> CountersRanges(Pool& pool) {
  internal::PoolMapping& mapping = internal::PoolAccess::mapping(pool);
  const uint8_t* base = mapping.At<uint8_t>(0);
  const internal::PoolHeader* header = mapping.header();
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (uint32_t index = 0; index < header->max_services; ++index) {
    uint64_t offset = reinterpret_cast<const internal::ServiceEntry*>(
                          base + header->directory_offset + index * sizeof(internal::ServiceEntry))
                          ->counters.block_offset.load(std::memory_order_acquire);
    if (offset == 0 || offset + internal::kBlockHeaderBytes >= mapping.size()) continue;
    uint64_t begin = offset + internal::kBlockHeaderBytes;
    uint32_t slabs = reinterpret_cast<const internal::CountersHeader*>(base + begin)->slab_count;
    ranges.emplace_back(begin, begin + internal::CountersBytes(slabs));
  }
  return ranges;
}

class ShadowMemory : public internal::VisibilityRecorder {
 public:
  // Watches `pools`: mappings of one pool file, each a host of its own, named by `names`.
  ShadowMemory(const std::vector<std::shared_ptr<Pool>>& pools,
               const std::vector<std::string>& names) {
    counters_ = CountersRanges(*pools[0]);
    for (size_t i = 0; i < pools.size(); ++i) {
      internal::PoolMapping& mapping = internal::PoolAccess::mapping(*pools[i]);
      hosts_.push_back(Host{mapping.At<uint8_t>(0), mapping.size(), names[i]});
    }
    const internal::PoolHeader* header = internal::PoolAccess::mapping(*pools[0]).header();
    unwatched_begin_ = internal::LeaseTableOffset(
        header->call_window_offset,
        uint64_t{header->call_window_slots} * sizeof(internal::CallWindowSlot));
    unwatched_end_ = unwatched_begin_ + internal::kLeaseTableBytes;
    directory_begin_ = header->directory_offset;
    directory_end_ =
        directory_begin_ + uint64_t{header->max_services} * sizeof(internal::ServiceEntry);
  }
  ~ShadowMemory() override { Stop(); }

  // Takes the pool's bytes as memory's, then stands in for the primitives. False if the library
  // was built without the hook.
  bool Start() {
    std::lock_guard<std::mutex> lock(mutex_);
    {
      IgnoredByThreadSanitizer ignored;
      memory_.assign(hosts_[0].base, hosts_[0].base + hosts_[0].size);
    }
    started_ = internal::SetVisibilityRecorder(this);
    return started_;
  }
  // Stops standing in. Call while nothing uses the pools' primitives.
  void Stop() {
    if (started_) internal::SetVisibilityRecorder(nullptr);
    started_ = false;
  }

  // What a host read through Invalidate or Consume that memory did not hold: stale reads.
  std::vector<std::string> StaleReads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stale_;
  }

  // Lines a host wrote back (WriteBack) that no other host invalidated afterwards: data handed
  // over that its reader would read from its own stale cache. A lone block header (one line) is
  // left out: the allocator writes it back for whoever may take the block later (Allocate, the
  // free lists), which one call need not do; the cache simulator (docs/noncoherent.md) checks
  // those. So are the services' counters, which their server writes back every few milliseconds
  // for whoever reads them whenever it does (notnets stats, balancing).
  std::vector<std::string> UninvalidatedWriteBacks() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> missing;
    for (const WriteBackEvent& written : write_backs_) {
      if (InCounters(written.first_line * internal::kCacheLineBytes)) continue;
      for (uint64_t line = written.first_line; line <= written.last_line; ++line) {
        bool invalidated = false;
        auto found = last_invalidated_.find(line);
        for (size_t host = 0; found != last_invalidated_.end() && host < hosts_.size(); ++host) {
          invalidated |=
              static_cast<int>(host) != written.host && found->second[host] > written.when;
        }
        if (!invalidated) {
          missing.push_back(hosts_[written.host].name + " wrote back the line at pool offset " +
                            std::to_string(line * internal::kCacheLineBytes) +
                            "; no other host invalidated it afterwards");
        }
      }
    }
    return missing;
  }

  // How many write-backs (WriteBack calls) were recorded.
  size_t WriteBackCount() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return write_back_calls_;
  }

  void Publish(internal::SharedWord* word, uint64_t value) override {
    std::lock_guard<std::mutex> lock(mutex_);
    word->store(value, std::memory_order_release);
    Located at = Locate(word, sizeof(*word));
    if (at.host >= 0) Record(Event::kPublish, at);
  }

  uint64_t Consume(const internal::SharedWord* word) override {
    std::lock_guard<std::mutex> lock(mutex_);
    uint64_t value = word->load(std::memory_order_acquire);
    Located at = Locate(word, sizeof(*word));
    if (at.host >= 0) {
      CheckRead(at, reinterpret_cast<const uint8_t*>(&value), "Consume");
      Record(Event::kInvalidate, at);
    }
    return value;
  }

  void WriteBack(const void* data, size_t size) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Located at = Locate(data, size);
    if (at.host >= 0 && size > 0) Record(Event::kWriteBack, at);
  }

  void Invalidate(const void* data, size_t size) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Located at = Locate(data, size);
    if (at.host < 0 || size == 0) return;
    CheckRead(at, hosts_[at.host].base + at.offset, "Invalidate");
    Record(Event::kInvalidate, at);
  }

 private:
  struct Host {
    const uint8_t* base;
    uint64_t size;
    std::string name;
  };
  struct Located {
    int host = -1;  // -1: not in a watched mapping
    uint64_t offset = 0;
    uint64_t size = 0;
  };
  enum class Event { kPublish, kWriteBack, kInvalidate };
  struct WriteBackEvent {
    uint64_t when;
    int host;
    uint64_t first_line;
    uint64_t last_line;
  };

  // The doorbell sequence and sleeper count of a directory entry change by read-modify-write at
  // any moment (every ring bumps the sequence), like the lease table's words: no write-back
  // publishes them, so a read of the whole entry may see them newer than memory's copy.
  bool IsDoorbellWord(uint64_t offset) const {
    if (offset < directory_begin_ || offset >= directory_end_) return false;
    uint64_t in_entry = (offset - directory_begin_) % sizeof(internal::ServiceEntry);
    return in_entry >= offsetof(internal::ServiceEntry, doorbell_sequence) &&
           in_entry < offsetof(internal::ServiceEntry, counters);
  }

  bool InCounters(uint64_t offset) const {
    for (const auto& [begin, end] : counters_) {
      if (offset >= begin && offset < end) return true;
    }
    return false;
  }

  Located Locate(const void* data, size_t size) const {
    auto* address = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < hosts_.size(); ++i) {
      if (address >= hosts_[i].base && address + size <= hosts_[i].base + hosts_[i].size) {
        uint64_t offset = static_cast<uint64_t>(address - hosts_[i].base);
        if (offset < unwatched_end_ && offset + size > unwatched_begin_) return Located{};
        return Located{static_cast<int>(i), offset, size};
      }
    }
    return Located{};
  }

  // A read through a host's invalidated lines of `at.size` bytes that hold `seen` in its mapping:
  // memory must hold the same.
  void CheckRead(const Located& at, const uint8_t* seen, const char* how) {
    IgnoredByThreadSanitizer ignored;
    if (std::memcmp(seen, memory_.data() + at.offset, at.size) == 0) return;
    size_t first = 0;
    while (first < at.size &&
           (seen[first] == memory_[at.offset + first] || IsDoorbellWord(at.offset + first))) {
      ++first;
    }
    if (first == at.size) return;
    std::ostringstream out;
    out << hosts_[at.host].name << " read " << at.size << " bytes at pool offset " << at.offset
        << " (" << how << "), but memory differs at byte " << first
        << ": its writer stored after its last write-back";
    stale_.push_back(out.str());
  }

  void Record(Event kind, const Located& at) {
    uint64_t first = at.offset / internal::kCacheLineBytes;
    uint64_t last = (at.offset + at.size - 1) / internal::kCacheLineBytes;
    ++now_;
    if (kind == Event::kInvalidate) {
      for (uint64_t line = first; line <= last; ++line) {
        std::vector<uint64_t>& when = last_invalidated_[line];
        when.resize(hosts_.size());
        when[at.host] = now_;
      }
      return;
    }
    // A write-back (or a publish, which writes back its word's line) makes whole lines memory's.
    uint64_t begin = first * internal::kCacheLineBytes;
    IgnoredByThreadSanitizer ignored;
    std::memcpy(memory_.data() + begin, hosts_[at.host].base + begin,
                (last + 1) * internal::kCacheLineBytes - begin);
    if (kind == Event::kWriteBack) ++write_back_calls_;
    if (kind == Event::kWriteBack && at.size != internal::kCacheLineBytes)
      write_backs_.push_back(WriteBackEvent{now_, at.host, first, last});
  }

  mutable std::mutex mutex_;
  std::vector<Host> hosts_;
  // The lease table's pool offsets, which the model leaves out: its words change by atomic
  // read-modify-write (Visibility::CompareExchange), which the model does not stand in for
  // (protocol.md section 12 lists such words), at any moment (the lease keeper's thread), and
  // their readers take a stale value for an older lease by design.
  uint64_t unwatched_begin_ = 0;
  uint64_t unwatched_end_ = 0;
  uint64_t directory_begin_ = 0;
  uint64_t directory_end_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> counters_;  // [begin, end) pool offsets
  std::vector<uint8_t> memory_;  // the pool as memory holds it, for hosts that invalidated
  uint64_t now_ = 0;             // numbers the events in order
  std::vector<WriteBackEvent> write_backs_;
  size_t write_back_calls_ = 0;
  std::map<uint64_t, std::vector<uint64_t>> last_invalidated_;  // line -> when, per host
  std::vector<std::string> stale_;
  bool started_ = false;
};

}  // namespace notnets::testing

#endif  // NOTNETS_TESTS_SHADOW_MEMORY_H_
