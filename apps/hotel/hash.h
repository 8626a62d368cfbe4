// Deterministic hashing for synthetic data, the request stream and response checksums: the same
// inputs give the same values in every process and on every run, unlike std::hash.
#ifndef NOTNETS_APPS_HOTEL_HASH_H_
#define NOTNETS_APPS_HOTEL_HASH_H_

#include <cstdint>
#include <string_view>

namespace hotel {

// A well-mixed 64-bit value of `x` (splitmix64's finalizer): nearby inputs give unrelated
// outputs, so Mix(seed + i) serves as the i-th random number of a seed.
inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// FNV-1a of `bytes`, continuing from `hash`.
inline uint64_t Fnv1a(std::string_view bytes, uint64_t hash = 0xcbf29ce484222325ull) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

// A small deterministic generator over a seed, for the data and the request stream.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  // The next 64 random bits.
  uint64_t Next() { return Mix(state_++); }
  // Uniform in [0, n); n > 0.
  uint64_t Below(uint64_t n) { return Next() % n; }
  // Uniform in [0, 1).
  double Unit() { return static_cast<double>(Next() >> 11) / static_cast<double>(1ull << 53); }

 private:
  uint64_t state_;
};

}  // namespace hotel

#endif  // NOTNETS_APPS_HOTEL_HASH_H_
