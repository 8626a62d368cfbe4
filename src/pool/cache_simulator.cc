#include "pool/cache_simulator.h"

#ifdef NOTNETS_FAULT_INJECTION
#include <pthread.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <vector>

#include "pool/background_thread.h"
#endif

namespace notnets::internal {

#ifndef NOTNETS_FAULT_INJECTION

bool CacheSimulatorEnabled() { return false; }
uint8_t* BeginSimulatedCache(uint8_t* shared, uint64_t, uint64_t) { return shared; }
void ForgetSimulatedLines(const void*, size_t) {}
uint8_t* EndSimulatedCache(uint8_t* base) { return base; }
void* SharedAddressOf(const void* address) { return const_cast<void*>(address); }
bool SimulatedPublish(SharedWord*, uint64_t) { return false; }
bool SimulatedConsume(const SharedWord*, uint64_t*) { return false; }
bool SimulatedWriteBack(const void*, size_t) { return false; }
bool SimulatedInvalidate(const void*, size_t) { return false; }
void SimulatedAtomicDone(SharedWord*, uint64_t) {}
uint64_t SimulatedAtomicCount() { return 0; }

#else

namespace {

constexpr size_t kWordsPerLine = kCacheLineBytes / sizeof(uint64_t);
// Pools and connection segments (two per connection) mapped at once.
constexpr size_t kMaxRegions = 16384;
constexpr size_t kStripes = 256;
constexpr uint64_t kPageBytes = 4096;
// The evictor's pace: a pass every [0, kMaxPauseNs) looks at kLinesPerPass lines from a random
// place and writes back each dirty one with probability 1/2.
constexpr long kMaxPauseNs = 200000;
constexpr uint64_t kLinesPerPass = 512;

// One pool mapping seen through a simulated cache. `copy` is what the code reads and writes (the
// cache), `clean` what each line held when last fetched or written back (a line whose copy
// differs is dirty), `shared` the memory every process sees.
struct Region {
  std::atomic<uint8_t*> copy{nullptr};
  uint8_t* clean = nullptr;
  uint8_t* shared = nullptr;
  uint64_t size = 0;
};

// The words of one line in the three views.
struct Line {
  uint64_t* copy;
  uint64_t* clean;
  uint64_t* shared;
};

// Process-local state; never freed, as the evictor runs until the process ends.
struct Simulator {
  std::array<Region, kMaxRegions> regions;
  // Regions at this index and past it have never been used: lookups stop there.
  std::atomic<size_t> regions_used{0};
  // Guards adding and removing regions, and the evictor's use of one while it does.
  std::mutex regions_mutex;
  // Serializes the moves of a line between copy and memory within this process.
  std::array<std::mutex, kStripes> stripes;
  std::atomic<bool> evictor_running{false};
  std::atomic<uint64_t> atomics{0};
};

Simulator& State() {
  static Simulator* state = new Simulator;
  return *state;
}

uint64_t Load(const uint64_t* word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }
void Store(uint64_t* word, uint64_t value) { __atomic_store_n(word, value, __ATOMIC_RELEASE); }

std::mutex& StripeOf(const uint64_t* copy_word) {
  return State().stripes[(reinterpret_cast<uintptr_t>(copy_word) / kCacheLineBytes) % kStripes];
}

// The region whose copy holds `address`, or nullptr.
Region* RegionOf(const void* address) {
  auto at = reinterpret_cast<uintptr_t>(address);
  Simulator& s = State();
  size_t used = s.regions_used.load(std::memory_order_acquire);
  for (size_t i = 0; i < used; ++i) {
    Region& region = s.regions[i];
    uint8_t* copy = region.copy.load(std::memory_order_acquire);
    if (copy != nullptr && at >= reinterpret_cast<uintptr_t>(copy) &&
        at < reinterpret_cast<uintptr_t>(copy) + region.size) {
      return &region;
    }
  }
  return nullptr;
}

Line LineAt(Region& region, uint64_t offset) {
  offset &= ~uint64_t{kCacheLineBytes - 1};
  uint8_t* copy = region.copy.load(std::memory_order_relaxed);
  return Line{reinterpret_cast<uint64_t*>(copy + offset),
              reinterpret_cast<uint64_t*>(region.clean + offset),
              reinterpret_cast<uint64_t*>(region.shared + offset)};
}

uint64_t OffsetIn(Region& region, const void* address) {
  return static_cast<uint64_t>(static_cast<const uint8_t*>(address) -
                               region.copy.load(std::memory_order_relaxed));
}

bool Dirty(const Line& line) {
  for (size_t i = 0; i < kWordsPerLine; ++i) {
    if (Load(&line.copy[i]) != Load(&line.clean[i])) return true;
  }
  return false;
}

// Copies the line out, word `last` last (a published word after what it publishes). Words reach
// memory one at a time from the end of the line, not the whole line at once (docs/noncoherent.md).
void WriteOut(const Line& line, const uint64_t* words, size_t last) {
  for (size_t i = kWordsPerLine; i-- > 0;) {
    if (i == last) continue;
    Store(&line.shared[i], words[i]);
    Store(&line.clean[i], words[i]);
  }
  if (last < kWordsPerLine) {
    Store(&line.shared[last], words[last]);
    Store(&line.clean[last], words[last]);
  }
}

// True if the line differs from memory: a line that is not dirty may differ only because
// another process wrote memory since this one fetched it, or because this process stored into it
// exactly what it held (see SimulatedWriteBack).
bool DiffersFromMemory(const Line& line) {
  for (size_t i = 0; i < kWordsPerLine; ++i) {
    if (Load(&line.copy[i]) != Load(&line.shared[i])) return true;
  }
  return false;
}

// Writes the line back whole, word `last` last. Caller holds its stripe.
void CopyOut(const Line& line, size_t last) {
  uint64_t words[kWordsPerLine];
  for (size_t i = 0; i < kWordsPerLine; ++i) words[i] = Load(&line.copy[i]);
  WriteOut(line, words, last);
}

// Writes the line back if it is dirty. Caller holds its stripe.
void WriteBackLine(const Line& line, size_t last) {
  if (Dirty(line)) CopyOut(line, last);
}

// clflush: writes the line back whole if dirty, then fetches it, word `first` first (a consumed
// word before what it publishes). A store this process makes to the copy meanwhile is kept.
void FetchLine(const Line& line, size_t first) {
  WriteBackLine(line, kWordsPerLine);
  for (size_t n = 0; n < kWordsPerLine; ++n) {
    size_t i = n == 0 ? first : (n <= first ? n - 1 : n);
    uint64_t fresh = Load(&line.shared[i]);
    uint64_t expected = Load(&line.clean[i]);
    __atomic_compare_exchange_n(&line.copy[i], &expected, fresh, false, __ATOMIC_ACQ_REL,
                                __ATOMIC_ACQUIRE);
    Store(&line.clean[i], fresh);
  }
}

// One pass of the evictor over a random region, under regions_mutex.
void EvictSome(std::mt19937_64& random) {
  Simulator& s = State();
  std::lock_guard<std::mutex> regions(s.regions_mutex);
  size_t used = s.regions_used.load(std::memory_order_relaxed);
  if (used == 0) return;
  Region& region = s.regions[random() % used];
  if (region.copy.load(std::memory_order_relaxed) == nullptr) return;
  uint64_t lines = region.size / kCacheLineBytes;
  uint64_t start = random() % lines;
  for (uint64_t n = 0; n < kLinesPerPass && start + n < lines; ++n) {
    Line line = LineAt(region, (start + n) * kCacheLineBytes);
    if ((random() & 1) == 0 || !Dirty(line)) continue;
    std::lock_guard<std::mutex> stripe(StripeOf(line.copy));
    // Again under the stripe: a fetch that held it had stored the line's new words but not yet
    // its clean ones, and writing back what it fetched could undo a newer store by another
    // process (or, in a mapping this process only reads, fault).
    if (!Dirty(line)) continue;
    // The line is read twice and written back only if both reads agree, so that a line the
    // code is writing meanwhile is not written back torn.
    uint64_t first[kWordsPerLine];
    uint64_t second[kWordsPerLine];
    for (size_t i = 0; i < kWordsPerLine; ++i) first[i] = Load(&line.copy[i]);
    for (size_t i = 0; i < kWordsPerLine; ++i) second[i] = Load(&line.copy[i]);
    if (std::memcmp(first, second, sizeof(first)) == 0) WriteOut(line, first, kWordsPerLine);
  }
}

void Evict() {
  std::mt19937_64 random(std::random_device{}());
  while (true) {
    struct timespec pause {
      0, static_cast<long>(random() % kMaxPauseNs)
    };
    ::nanosleep(&pause, nullptr);
    EvictSome(random);
  }
}

// NOTNETS_CACHE_SIMULATOR_EVICTIONS=0 keeps every line that was not written back out of memory
// for good: what the mutation check (docs/mutation-check.md) needs, as a random eviction can
// hide a missing write-back.
bool EvictionsWanted() {
  static const bool wanted = [] {
    const char* setting = std::getenv("NOTNETS_CACHE_SIMULATOR_EVICTIONS");
    return setting == nullptr || std::strcmp(setting, "0") != 0;
  }();
  return wanted;
}

// A child of fork() has no evictor thread; its first simulated operation starts one.
void StartEvictor() {
  Simulator& s = State();
  if (s.evictor_running.load(std::memory_order_acquire) || !EvictionsWanted()) return;
  std::lock_guard<std::mutex> regions(s.regions_mutex);
  if (s.evictor_running.load(std::memory_order_relaxed)) return;
  StartBackgroundThread(Evict);
  s.evictor_running.store(true, std::memory_order_release);
}

// No lock of the simulator is held across fork, so the child can use them.
void BeforeFork() {
  Simulator& s = State();
  s.regions_mutex.lock();
  for (std::mutex& stripe : s.stripes) stripe.lock();
}
void AfterForkInParent() {
  Simulator& s = State();
  for (std::mutex& stripe : s.stripes) stripe.unlock();
  s.regions_mutex.unlock();
}
void AfterForkInChild() {
  AfterForkInParent();
  State().evictor_running.store(false, std::memory_order_relaxed);
}

// Copies the pages of `shared` that are not all zero into `copy` and from there into `clean`
// (both fresh anonymous memory).
void CopyNonZeroPages(uint8_t* copy, uint8_t* clean, const uint8_t* shared, uint64_t size) {
  static const uint8_t kZeros[kPageBytes] = {};
  for (uint64_t offset = 0; offset < size; offset += kPageBytes) {
    uint64_t bytes = size - offset < kPageBytes ? size - offset : kPageBytes;
    if (std::memcmp(shared + offset, kZeros, bytes) == 0) continue;
    std::memcpy(copy + offset, shared + offset, bytes);
    std::memcpy(clean + offset, copy + offset, bytes);
  }
}

// Whether each page of [start, start + size) has memory behind it (mincore: one call for the
// range, where a call per page made replacing a 64 MiB placeholder take tenths of a second).
// All pages count as resident if the kernel does not say.
std::vector<unsigned char> ResidentPages(const uint8_t* start, uint64_t size) {
  std::vector<unsigned char> resident((size + kPageBytes - 1) / kPageBytes, 1);
  if (::mincore(const_cast<uint8_t*>(start), size, resident.data()) != 0) {
    std::fill(resident.begin(), resident.end(), 1);
  }
  return resident;
}

uint8_t* MapPrivate(uint64_t size) {
  void* memory = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return memory == MAP_FAILED ? nullptr : static_cast<uint8_t*>(memory);
}

}  // namespace

bool CacheSimulatorEnabled() {
  static const bool enabled = [] {
    const char* setting = std::getenv("NOTNETS_CACHE_SIMULATOR");
    bool on = setting != nullptr && std::strcmp(setting, "1") == 0;
    if (on) ::pthread_atfork(BeforeFork, AfterForkInParent, AfterForkInChild);
    return on;
  }();
  return enabled;
}

uint8_t* BeginSimulatedCache(uint8_t* shared, uint64_t size, uint64_t copied_bytes) {
  if (!CacheSimulatorEnabled() || size % kCacheLineBytes != 0) return shared;
  uint8_t* copy = MapPrivate(size);
  uint8_t* clean = MapPrivate(size);
  if (copy == nullptr || clean == nullptr) std::abort();  // a test cannot run without them
  // `clean` is taken from the copy, not from memory again: other processes write memory
  // meanwhile, and a line that differed between two reads of it would look dirty here, and its
  // older contents would be written back over theirs.
  CopyNonZeroPages(copy, clean, shared, std::min(copied_bytes, size));
  Simulator& s = State();
  {
    std::lock_guard<std::mutex> regions(s.regions_mutex);
    Region* free_region = nullptr;
    size_t used = s.regions_used.load(std::memory_order_relaxed);
    for (size_t i = 0; i < used && free_region == nullptr; ++i) {
      if (s.regions[i].copy.load(std::memory_order_relaxed) == nullptr) free_region = &s.regions[i];
    }
    if (free_region == nullptr) {
      if (used == kMaxRegions) std::abort();  // more mappings at once than a test needs
      free_region = &s.regions[used];
    }
    free_region->clean = clean;
    free_region->shared = shared;
    free_region->size = size;
    free_region->copy.store(copy, std::memory_order_release);
    if (free_region == &s.regions[used]) s.regions_used.store(used + 1, std::memory_order_release);
  }
  StartEvictor();
  return copy;
}

uint8_t* EndSimulatedCache(uint8_t* base) {
  Simulator& s = State();
  if (!CacheSimulatorEnabled()) return base;
  std::lock_guard<std::mutex> regions(s.regions_mutex);
  size_t used = s.regions_used.load(std::memory_order_relaxed);
  for (size_t i = 0; i < used; ++i) {
    Region& region = s.regions[i];
    if (region.copy.load(std::memory_order_relaxed) != base) continue;
    region.copy.store(nullptr, std::memory_order_release);
    ::munmap(base, region.size);
    ::munmap(region.clean, region.size);
    return region.shared;
  }
  return base;
}

void ForgetSimulatedLines(const void* data, size_t size) {
  Region* region = CacheSimulatorEnabled() ? RegionOf(data) : nullptr;
  if (region == nullptr) return;
  uint8_t* copy = region->copy.load(std::memory_order_relaxed);
  uint64_t begin = OffsetIn(*region, data) & ~uint64_t{kPageBytes - 1};
  uint64_t end = std::min(OffsetIn(*region, data) + size, region->size);
  static const uint8_t kZeros[kPageBytes] = {};
  std::vector<unsigned char> shared_resident = ResidentPages(region->shared + begin, end - begin);
  std::vector<unsigned char> copy_resident = ResidentPages(copy + begin, end - begin);
  for (uint64_t page = begin; page < end; page += kPageBytes) {
    // A page with no memory behind it (a sparse file's hole) holds zeros, and reading it would
    // make it memory: the copy's page, if never touched or holding zeros, holds the same zeros.
    uint64_t index = (page - begin) / kPageBytes;
    if ((shared_resident[index] & 1) == 0 &&
        ((copy_resident[index] & 1) == 0 || std::memcmp(copy + page, kZeros, kPageBytes) == 0)) {
      continue;
    }
    for (uint64_t offset = page; offset < page + kPageBytes && offset < end;
         offset += kCacheLineBytes) {
      Line line = LineAt(*region, offset);
      std::lock_guard<std::mutex> stripe(StripeOf(line.copy));
      for (size_t i = 0; i < kWordsPerLine; ++i) {
        uint64_t fresh = Load(&line.shared[i]);
        Store(&line.copy[i], fresh);
        Store(&line.clean[i], fresh);
      }
    }
  }
}

void* SharedAddressOf(const void* address) {
  if (!CacheSimulatorEnabled()) return const_cast<void*>(address);
  Region* region = RegionOf(address);
  if (region == nullptr) return const_cast<void*>(address);
  return region->shared + OffsetIn(*region, address);
}

bool SimulatedPublish(SharedWord* word, uint64_t value) {
  Region* region = CacheSimulatorEnabled() ? RegionOf(word) : nullptr;
  if (region == nullptr) return false;
  StartEvictor();
  uint64_t offset = OffsetIn(*region, word);
  Line line = LineAt(*region, offset);
  size_t index = (offset % kCacheLineBytes) / sizeof(uint64_t);
  std::lock_guard<std::mutex> stripe(StripeOf(line.copy));
  Store(&line.copy[index], value);
  WriteBackLine(line, index);
  Store(&line.shared[index], value);  // also when the value was already the line's
  Store(&line.clean[index], value);
  return true;
}

bool SimulatedConsume(const SharedWord* word, uint64_t* value) {
  Region* region = CacheSimulatorEnabled() ? RegionOf(word) : nullptr;
  if (region == nullptr) return false;
  StartEvictor();
  uint64_t offset = OffsetIn(*region, word);
  Line line = LineAt(*region, offset);
  size_t index = (offset % kCacheLineBytes) / sizeof(uint64_t);
  std::lock_guard<std::mutex> stripe(StripeOf(line.copy));
  FetchLine(line, index);
  *value = Load(&line.copy[index]);
  return true;
}

bool SimulatedWriteBack(const void* data, size_t size) {
  Region* region = CacheSimulatorEnabled() ? RegionOf(data) : nullptr;
  if (region == nullptr) return false;
  StartEvictor();
  uint64_t begin = OffsetIn(*region, data) & ~uint64_t{kCacheLineBytes - 1};
  uint64_t end = OffsetIn(*region, data) + size;
  for (uint64_t offset = begin; offset < end && offset < region->size; offset += kCacheLineBytes) {
    Line line = LineAt(*region, offset);
    std::lock_guard<std::mutex> stripe(StripeOf(line.copy));
    // A real cache marks a line dirty at any store, also one of the bytes the line already held;
    // the simulator sees only values. A line of the range that differs from memory without being
    // dirty is taken as stored to, as the caller says it wrote the range: otherwise a process whose
    // stale copy of a block it owns again held exactly the bytes it writes now would write back
    // nothing, and the reader would get what another process wrote there before.
    if (Dirty(line) || DiffersFromMemory(line)) CopyOut(line, kWordsPerLine);
  }
  return true;
}

bool SimulatedInvalidate(const void* data, size_t size) {
  Region* region = CacheSimulatorEnabled() ? RegionOf(data) : nullptr;
  if (region == nullptr) return false;
  StartEvictor();
  uint64_t begin = OffsetIn(*region, data) & ~uint64_t{kCacheLineBytes - 1};
  uint64_t end = OffsetIn(*region, data) + size;
  for (uint64_t offset = begin; offset < end && offset < region->size; offset += kCacheLineBytes) {
    Line line = LineAt(*region, offset);
    std::lock_guard<std::mutex> stripe(StripeOf(line.copy));
    FetchLine(line, 0);
  }
  return true;
}

void SimulatedAtomicDone(SharedWord* word, uint64_t value) {
  Region* region = CacheSimulatorEnabled() ? RegionOf(word) : nullptr;
  if (region == nullptr) return;
  State().atomics.fetch_add(1, std::memory_order_relaxed);
  uint64_t offset = OffsetIn(*region, word);
  Line line = LineAt(*region, offset);
  size_t index = (offset % kCacheLineBytes) / sizeof(uint64_t);
  std::lock_guard<std::mutex> stripe(StripeOf(line.copy));
  uint64_t expected = Load(&line.clean[index]);
  if (__atomic_compare_exchange_n(&line.copy[index], &expected, value, false, __ATOMIC_ACQ_REL,
                                  __ATOMIC_ACQUIRE)) {
    Store(&line.clean[index], value);
  }
}

uint64_t SimulatedAtomicCount() { return State().atomics.load(std::memory_order_relaxed); }

#endif

}  // namespace notnets::internal
