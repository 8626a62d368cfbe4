// Random writes over memory a test maps, as a hostile process (or a broken one) would make them.
#ifndef NOTNETS_TESTS_SCRIBBLER_H_
#define NOTNETS_TESTS_SCRIBBLER_H_

#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>

namespace notnets::testing {

// Writes 8 arbitrary bytes at an arbitrary offset of the `size` bytes at `bytes`, over and over,
// until `stop`; every other write lands in the first `front` bytes (pass `size` to spread them
// all evenly). Returns how many writes it made. `size` and `front` must exceed 8.
inline uint64_t ScribbleUntil(uint8_t* bytes, uint64_t size, uint64_t front,
                              const std::atomic<bool>& stop) {
  uint64_t state = 0x9e3779b97f4a7c15ull;
  uint64_t writes = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    // xorshift64: the bytes need only be arbitrary, not secret.
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    uint64_t offset = state % ((writes % 2 == 0 ? front : size) - 8);
    std::memcpy(bytes + offset, &state, 8);
    if (++writes % 64 == 0) std::this_thread::yield();
  }
  return writes;
}

}  // namespace notnets::testing

#endif  // NOTNETS_TESTS_SCRIBBLER_H_
