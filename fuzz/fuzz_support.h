// What the fuzz targets share: reading the input, pools that leave no file behind, putting a pool
// back the way it was before a run, and checks of what the library hands its user.
//
// Most targets build a well-formed structure with the library's own code, then XOR the input over
// its bytes: an all-zero (or empty) input leaves it well-formed, and any byte value is reachable.
#ifndef NOTNETS_FUZZ_FUZZ_SUPPORT_H_
#define NOTNETS_FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "notnets/message.h"
#include "notnets/pool.h"
#include "pool/pool_access.h"
#include "pool/pool_mapping.h"

namespace notnets::fuzz {

// Stops the fuzzer with a report when a property a target proves does not hold.
[[noreturn]] void Fail(const std::string& what);
#define NOTNETS_FUZZ_CHECK(condition, what)        \
  do {                                             \
    if (!(condition)) ::notnets::fuzz::Fail(what); \
  } while (0)

// The fuzzer's input, read front to back. Past its end it reads as zeros.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  uint8_t TakeByte();
  uint32_t TakeU32();
  // XORs the next `size` bytes of the input into `target` (memory of this process or the pool).
  void XorInto(void* target, size_t size);

 private:
  const uint8_t* data_;
  size_t size_;
  size_t position_ = 0;
};

// Options for the small pools of the fuzz targets: 1 MiB, 4 services, 16 call window slots.
PoolOptions SmallPoolOptions();

// A pool created for one fuzzer process, mapped `mappings` times (as if by as many processes); its
// file is removed at once, so a crash leaves nothing in /dev/shm.
class FuzzPool {
 public:
  // The files of the names registered in the pool are removed when the process exits (its
  // pool file is gone since construction, and the targets never destroy their pools).
  FuzzPool(const std::string& tag, const PoolOptions& options, int mappings);
  // The i-th mapping (each a Pool of its own).
  const std::shared_ptr<Pool>& pool(int i) const { return pools_[i]; }
  internal::PoolMapping& mapping(int i) const { return internal::PoolAccess::mapping(*pools_[i]); }

 private:
  std::vector<std::shared_ptr<Pool>> pools_;
};

// The bytes of a pool a run can change: everything before the heap (header, directory, call
// window), and the heap up to heap_top. Restore() puts them back and zeroes what was carved from
// the heap since, so that every run starts from the same pool whatever the previous one did.
// (Bytes the library wrote beyond heap_top into a block a peer named there are left: zeroing the
// whole heap on every run would halve the runs per second.)
class PoolSnapshot {
 public:
  explicit PoolSnapshot(internal::PoolMapping* mapping);
  void Restore();

 private:
  internal::PoolMapping* mapping_;
  std::vector<uint8_t> front_;  // [0, heap_offset)
  std::vector<uint8_t> heap_;   // [heap_offset, heap_top)
  uint64_t high_water_;         // the highest heap_top seen
};

// A message the library gave its user must lie in a block of the pool it was given in (at most
// its payload capacity), or be inline (at most 24 bytes): whatever the peer wrote, the user never
// reads outside what the peer was allowed to send.
void CheckReceived(internal::PoolMapping& mapping, const ReceivedMessage& message);

}  // namespace notnets::fuzz

#endif  // NOTNETS_FUZZ_FUZZ_SUPPORT_H_
