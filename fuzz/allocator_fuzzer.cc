// allocator_fuzzer: the pool's block allocator over a heap whose free lists another process
// scribbled on.
//
// Proves: whatever was written over the free-list heads and the links of free blocks, Allocate
// returns a status or a block of the heap whose header validates for a size class that holds the
// request, and never hands out a block this process still holds; Free, Usage and ReclaimOwnedBy
// stay inside the mapping and end. With flag bit 0 the scribbles also reach heap_top and the size
// and state words of free blocks: then a handed-out block may overlap one held (the allocator
// cannot tell a forged free block from a real one), and only the first property is checked.
//
// Input: a flags byte; a count byte and that many build steps (a u32 payload size taken modulo
// 80,000, and a byte whose bit 0 frees a held block, chosen by the byte's other bits); a count byte
// and that many scribbles (a byte choosing the word, then 8 bytes XORed into it); a count byte and
// that many run steps (as the build steps, every 16th also walking the heap with Usage and
// reclaiming one owner's blocks).
#include <cstdint>
#include <set>
#include <vector>

#include "fuzz_support.h"
#include "pool/allocator.h"

namespace notnets::fuzz {
namespace {

using internal::Allocator;
using internal::BlockHeader;

constexpr uint8_t kScribbleEverything = 1;
constexpr uint64_t kMaxPayload = 80000;

struct Run {
  internal::PoolMapping& mapping;
  Allocator allocator;
  bool check_overlap;
  std::vector<uint64_t> held;
  std::vector<uint64_t> freed;

  // Allocates, checks the block, and keeps it.
  void Allocate(uint64_t payload, uint64_t owner) {
    uint64_t offset;
    Status status = allocator.Allocate(payload, owner, &offset);
    if (!status.ok()) {
      NOTNETS_FUZZ_CHECK(status.error_code() == StatusCode::RESOURCE_EXHAUSTED,
                         "Allocate failed with " + status.ToString());
      return;
    }
    uint64_t capacity = 0;
    NOTNETS_FUZZ_CHECK(allocator.ValidBlock(offset, &capacity) != nullptr,
                       "Allocate returned an invalid block");
    NOTNETS_FUZZ_CHECK(capacity >= payload, "Allocate returned a block too small");
    if (check_overlap) {
      uint64_t end = offset + capacity + internal::kBlockHeaderBytes;
      for (uint64_t other : held) {
        uint64_t other_capacity = 0;
        allocator.ValidBlock(other, &other_capacity);
        uint64_t other_end = other + other_capacity + internal::kBlockHeaderBytes;
        NOTNETS_FUZZ_CHECK(end <= other || other_end <= offset,
                           "Allocate handed out a block overlapping one held");
      }
    }
    held.push_back(offset);
  }

  // Drops from `held` the blocks that ReclaimOwnedBy freed.
  void ForgetFreed() {
    std::vector<uint64_t> still;
    for (uint64_t offset : held) {
      if (mapping.At<BlockHeader>(offset)->ownership.load(std::memory_order_relaxed) !=
          internal::BlockOwnership(0, internal::BlockState::kFree)) {
        still.push_back(offset);
      }
    }
    held.swap(still);
  }

  void Step(FuzzInput& input) {
    uint64_t payload = input.TakeU32() % kMaxPayload;
    uint8_t choice = input.TakeByte();
    if ((choice & 1) != 0 && !held.empty()) {
      size_t index = (choice >> 1) % held.size();
      allocator.Free(held[index]);
      freed.push_back(held[index]);
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(index));
      return;
    }
    Allocate(payload, 1 + choice % 3);
  }

  // XORs 8 input bytes into a word chosen by the input: a free-list head, or the link (with flag
  // bit 0 also the size or state word) of a freed block; with flag bit 0 also heap_top.
  void Scribble(FuzzInput& input, bool everything) {
    uint8_t choice = input.TakeByte();
    internal::AllocatorState& state = mapping.header()->allocator;
    void* word = nullptr;
    if (choice < 128) {
      word = &state.free_heads[choice % internal::kSizeClassCount];
    } else if (choice < 240 && !freed.empty()) {
      BlockHeader* block = mapping.At<BlockHeader>(freed[choice % freed.size()]);
      int which = everything ? choice % 3 : 2;
      word = which == 0 ? &block->format : which == 1 ? &block->ownership : &block->next_free;
    } else if (everything) {
      word = &state.heap_top;
    }
    if (word != nullptr) {
      input.XorInto(word, sizeof(uint64_t));
    } else {
      uint64_t ignored = 0;
      input.XorInto(&ignored, sizeof(ignored));
    }
  }
};

int TestOneInput(const uint8_t* data, size_t size) {
  static FuzzPool pool("allocator", SmallPoolOptions(), 1);
  static PoolSnapshot snapshot(&pool.mapping(0));
  snapshot.Restore();

  FuzzInput input(data, size);
  bool everything = (input.TakeByte() & kScribbleEverything) != 0;
  Run run{pool.mapping(0), Allocator(&pool.mapping(0)), !everything, {}, {}};
  for (int steps = input.TakeByte() % 64; steps > 0; --steps) run.Step(input);
  for (int scribbles = input.TakeByte() % 8; scribbles > 0; --scribbles) {
    run.Scribble(input, everything);
  }
  int steps = input.TakeByte() % 64;
  for (int step = 0; step < steps; ++step) {
    run.Step(input);
    if (step % 16 == 15) {
      run.allocator.Usage();
      run.allocator.ReclaimOwnedBy(1 + step % 3, 0, internal::BlockStates::kAny);
      run.ForgetFreed();
    }
  }
  return 0;
}

}  // namespace
}  // namespace notnets::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return notnets::fuzz::TestOneInput(data, size);
}
