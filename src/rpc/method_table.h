// A client's map from method names to their indexes in the service's method table, looked up on
// every call.
#ifndef NOTNETS_RPC_METHOD_TABLE_H_
#define NOTNETS_RPC_METHOD_TABLE_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace notnets::internal {

// Built once, then only read, so lookups from any thread need no lock. Open addressing with a
// power-of-two table and a hash that eats eight bytes at a time: a lookup costs a few multiplies
// and one comparison, where std::unordered_map divides and chases a node.
class MethodTable {
 public:
  static constexpr uint32_t kNotFound = UINT32_MAX;

  MethodTable() = default;
  // Method i of `names` gets index i; of two equal names, the later one wins.
  explicit MethodTable(const std::vector<std::string>& names) {
    uint64_t capacity = 4;
    while (capacity < 2 * uint64_t{names.size()}) capacity *= 2;
    entries_.resize(capacity);
    mask_ = capacity - 1;
    for (uint32_t i = 0; i < names.size(); ++i) {
      Entry* entry = &entries_[Hash(names[i]) & mask_];
      while (entry->index != kNotFound && entry->name != names[i]) {
        entry = &entries_[(entry - entries_.data() + 1) & mask_];
      }
      entry->name = names[i];
      entry->index = i;
    }
  }

  // The index of `name`, or kNotFound.
  uint32_t Find(std::string_view name) const {
    if (entries_.empty()) return kNotFound;
    for (uint64_t slot = Hash(name) & mask_;; slot = (slot + 1) & mask_) {
      const Entry& entry = entries_[slot];
      if (entry.index == kNotFound) return kNotFound;
      if (entry.name.size() == name.size() && Equal(entry.name.data(), name.data(), name.size())) {
        return entry.index;
      }
    }
  }

  // The name of method `index`, or "" if there is none. A scan of the table: for the rare call
  // that is sent again to another server, which has its own indexes.
  std::string_view Name(uint32_t index) const {
    for (const Entry& entry : entries_) {
      if (entry.index == index) return entry.name;
    }
    return {};
  }

 private:
  struct Entry {
    std::string name;
    uint32_t index = kNotFound;
  };

  static uint64_t Hash(std::string_view name) {
    constexpr uint64_t kMultiplier = 0x9E3779B97F4A7C15ull;
    const char* bytes = name.data();
    size_t size = name.size();
    uint64_t hash = size * kMultiplier;
    // Whole words, then the last bytes as one or two words that may overlap what came before.
    for (; size > 8; bytes += 8, size -= 8) hash = (hash ^ Load<uint64_t>(bytes)) * kMultiplier;
    uint64_t tail = size >= 4
                        ? uint64_t{Load<uint32_t>(bytes)} << 32 | Load<uint32_t>(bytes + size - 4)
                    : size != 0 ? uint64_t{static_cast<uint8_t>(bytes[0])} << 16 |
                                      uint64_t{static_cast<uint8_t>(bytes[size / 2])} << 8 |
                                      static_cast<uint8_t>(bytes[size - 1])
                                : 0;
    hash = (hash ^ tail) * kMultiplier;
    return hash ^ (hash >> 32);
  }
  // memcmp(a, b, size) == 0 in a few loads for short names, without a call.
  static bool Equal(const char* a, const char* b, size_t size) {
    if (size < 4) {
      for (size_t i = 0; i < size; ++i) {
        if (a[i] != b[i]) return false;
      }
      return true;
    }
    if (size <= 8) {
      return Load<uint32_t>(a) == Load<uint32_t>(b) &&
             Load<uint32_t>(a + size - 4) == Load<uint32_t>(b + size - 4);
    }
    for (; size > 8; a += 8, b += 8, size -= 8) {
      if (Load<uint64_t>(a) != Load<uint64_t>(b)) return false;
    }
    return Load<uint64_t>(a + size - 8) == Load<uint64_t>(b + size - 8);
  }
  template <typename Word>
  static Word Load(const char* bytes) {
    Word word;
    std::memcpy(&word, bytes, sizeof(word));
    return word;
  }

  std::vector<Entry> entries_;  // at least twice as many as names, so probes stay short
  uint64_t mask_ = 0;
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_METHOD_TABLE_H_
