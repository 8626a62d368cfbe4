// What this process's channels hold in one attached pool, against the limits its PoolOptions set.
#ifndef NOTNETS_POOL_PROCESS_QUOTA_H_
#define NOTNETS_POOL_PROCESS_QUOTA_H_

#include <atomic>
#include <cstdint>

namespace notnets::internal {

// Counted in the process, never in the pool: nobody else can change the counts, and a dead
// process's counts die with it (what it held comes back as its peers reclaim it). Thread-safe.
class ProcessQuota {
 public:
  void SetLimits(uint32_t max_connections, uint64_t max_bytes) {
    max_connections_ = max_connections;
    max_bytes_ = max_bytes;
  }
  uint32_t max_connections() const { return max_connections_; }
  uint64_t max_bytes() const { return max_bytes_; }
  uint32_t connections() const { return connections_.load(std::memory_order_relaxed); }
  int64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

  // Counts one more connection; false (nothing counted) if that would pass the limit.
  bool TakeConnection() {
    uint32_t held = connections_.load(std::memory_order_relaxed);
    do {
      if (held >= max_connections_) return false;
    } while (!connections_.compare_exchange_weak(held, held + 1, std::memory_order_relaxed));
    return true;
  }
  void ReturnConnection() { connections_.fetch_sub(1, std::memory_order_relaxed); }

  // Counts `bytes` more held; false (nothing counted) if that would pass the limit.
  bool Charge(uint64_t bytes) {
    int64_t held = bytes_.load(std::memory_order_relaxed);
    do {
      if (held + static_cast<int64_t>(bytes) > static_cast<int64_t>(max_bytes_)) return false;
    } while (!bytes_.compare_exchange_weak(held, held + static_cast<int64_t>(bytes),
                                           std::memory_order_relaxed));
    return true;
  }
  // Counts bytes that came without asking (messages received) or went (sent, freed).
  void Add(int64_t bytes) { bytes_.fetch_add(bytes, std::memory_order_relaxed); }

 private:
  uint32_t max_connections_ = UINT32_MAX;
  uint64_t max_bytes_ = UINT64_MAX >> 1;
  std::atomic<uint32_t> connections_{0};
  std::atomic<int64_t> bytes_{0};
};

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_PROCESS_QUOTA_H_
