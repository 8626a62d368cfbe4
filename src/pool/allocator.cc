#include "pool/allocator.h"

#include <bit>
#include <string>
#include <unordered_map>

#include "pool/crash_point.h"
#include "pool/process_identity.h"

namespace notnets::internal {

namespace {

constexpr uint64_t kRefMask = 0xffffffffull;

uint64_t TaggedHead(uint64_t previous_head, uint64_t block_offset) {
  return ((previous_head >> 32) + 1) << 32 | (block_offset / kCacheLineBytes);
}

}  // namespace

uint32_t SizeClassFor(uint64_t payload_bytes) {
  if (payload_bytes > BlockBytes(kMaxBlockShift) - kBlockHeaderBytes) return 0;
  uint64_t needed = payload_bytes + kBlockHeaderBytes;
  uint32_t shift = static_cast<uint32_t>(std::bit_width(needed - 1));
  return shift < kMinBlockShift ? kMinBlockShift : shift;
}

std::atomic<uint64_t>* Allocator::FreeHead(uint32_t size_class) const {
  return &mapping_->header()->allocator.free_heads[size_class - kMinBlockShift];
}

BlockHeader* Allocator::ValidBlock(uint64_t block_offset, uint64_t* payload_capacity) const {
  if (!mapping_->InHeap(block_offset, kBlockHeaderBytes)) return nullptr;
  auto* block = mapping_->At<BlockHeader>(block_offset);
  // Whoever split the block last wrote its format, in any process.
  mapping_->visibility().Invalidate(block, kBlockHeaderBytes);
  uint64_t format = block->format.load(std::memory_order_relaxed);
  uint32_t size_class = static_cast<uint32_t>(format & 0xff);
  if (format >> 32 != kBlockMagic || size_class < kMinBlockShift || size_class > kMaxBlockShift) {
    return nullptr;
  }
  if (!mapping_->InHeap(block_offset, BlockBytes(size_class))) return nullptr;
  if (payload_capacity != nullptr) *payload_capacity = PayloadCapacity(size_class);
  return block;
}

void Allocator::Push(std::atomic<uint64_t>* head, uint64_t block_offset) const {
  auto* block = mapping_->At<BlockHeader>(block_offset);
  AnnotateHandOff(block);
  uint64_t old_head = Visibility::LoadOrdered(head);
  do {
    block->next_free.store((old_head & kRefMask) * kCacheLineBytes, std::memory_order_relaxed);
    // The header (format, ownership, link) must reach memory before the block is on the list.
    mapping_->visibility().WriteBack(block, kBlockHeaderBytes);
  } while (!Visibility::CompareExchange(head, old_head, TaggedHead(old_head, block_offset)));
}

bool Allocator::Pop(std::atomic<uint64_t>* head, uint64_t* block_offset) const {
  uint64_t old_head = Visibility::LoadOrdered(head);
  while (true) {
    uint64_t top = (old_head & kRefMask) * kCacheLineBytes;
    if (top == 0) return false;
    // Heads are only ever set to blocks of the heap: anything else was scribbled, and the list
    // is lost (treated as empty) rather than followed.
    if (!mapping_->InHeap(top, kBlockHeaderBytes)) return false;
    // The next link is read while another process may pop and reuse `top`; the tag makes the
    // CAS fail in that case, and the bounds check keeps a torn value from being installed.
    auto* top_block = mapping_->At<BlockHeader>(top);
    mapping_->visibility().Invalidate(top_block, kBlockHeaderBytes);
    uint64_t next = top_block->next_free.load(std::memory_order_relaxed);
    if (next != 0 && ValidBlock(next) == nullptr) {
      uint64_t again = Visibility::LoadOrdered(head);
      if (again == old_head) return false;  // a corrupt list: treat the class as empty
      old_head = again;
      continue;
    }
    if (Visibility::CompareExchange(head, old_head, TaggedHead(old_head, next))) {
      *block_offset = top;
      AnnotateTakeOver(mapping_->At<BlockHeader>(top));
      return true;
    }
  }
}

bool Allocator::Carve(uint32_t size_class, uint64_t* block_offset) {
  SharedWord* top_word = &mapping_->header()->allocator.heap_top;
  uint64_t top = Visibility::LoadOrdered(top_word);
  while (true) {
    if (top % kCacheLineBytes != 0 || top < mapping_->heap_offset() || top > mapping_->heap_end() ||
        mapping_->heap_end() - top < BlockBytes(size_class)) {
      return false;
    }
    // The block at the top is taken by writing its format first, and only then is the top moved
    // past it, by its carver or by whoever finds it taken: a carver killed in between leaves a
    // block that heap walks can step over, never a header of zeros that stops them.
    SharedWord* format = &mapping_->At<BlockHeader>(top)->format;
    uint64_t seen = Visibility::LoadOrdered(format);
    uint32_t taken_class = static_cast<uint32_t>(seen & 0xff);
    if (seen >> 32 == kBlockMagic && taken_class >= kMinBlockShift &&
        taken_class <= kMaxBlockShift && mapping_->heap_end() - top >= BlockBytes(taken_class)) {
      uint64_t expected = top;
      top = Visibility::CompareExchange(top_word, expected, top + BlockBytes(taken_class))
                ? top + BlockBytes(taken_class)
                : expected;
      continue;
    }
    if (!Visibility::CompareExchange(format, seen, BlockFormat(size_class))) continue;
    MarkTaken(mapping_->At<BlockHeader>(top));
    CrashPoint("allocator.after_carve");
    uint64_t expected = top;
    Visibility::CompareExchange(top_word, expected, top + BlockBytes(size_class));
    *block_offset = top;
    return true;
  }
}

bool Allocator::PopFree(uint32_t size_class, uint64_t* block_offset) {
  for (int attempt = 0; attempt < kMaxPopAttempts; ++attempt) {
    uint64_t offset;
    if (!Pop(FreeHead(size_class), &offset)) return false;
    BlockHeader* block = mapping_->At<BlockHeader>(offset);
    if (block->format.load(std::memory_order_relaxed) == BlockFormat(size_class) &&
        mapping_->InHeap(offset, BlockBytes(size_class)) &&
        block->ownership.load(std::memory_order_relaxed) == BlockOwnership(0, BlockState::kFree)) {
      MarkTaken(block);
      *block_offset = offset;
      return true;
    }
    // A scribbled link led here: the block is not a free block of this class, so it is not ours
    // to hand out. It stays off the list (whatever it is, its owner keeps it).
  }
  return false;
}

bool Allocator::Split(uint32_t size_class, uint64_t* block_offset) {
  for (uint32_t larger = size_class + 1; larger <= kMaxBlockShift; ++larger) {
    uint64_t offset;
    if (!PopFree(larger, &offset)) continue;
    // The halves' headers first (taken by this process, as the block is), then the lower block's
    // smaller size, then the pushes: a walk of the heap sees either the whole block or each part
    // with its header, never a live block inside one it takes for free, and a process killed
    // anywhere in between leaves blocks marked taken by it (ReturnBlocksOfDeadTakers).
    const uint64_t taker = SelfIdentity().token;
    for (uint32_t half = larger - 1; half >= size_class; --half) {
      auto* buddy_block = mapping_->At<BlockHeader>(offset + BlockBytes(half));
      buddy_block->format.store(BlockFormat(half), std::memory_order_relaxed);
      buddy_block->ownership.store(BlockOwnership(0, BlockState::kFree), std::memory_order_relaxed);
      buddy_block->creator.store(taker, std::memory_order_relaxed);
      mapping_->visibility().WriteBack(buddy_block, kBlockHeaderBytes);
      if (half == size_class) break;
    }
    auto* block = mapping_->At<BlockHeader>(offset);
    block->format.store(BlockFormat(size_class), std::memory_order_relaxed);
    mapping_->visibility().WriteBack(block, kBlockHeaderBytes);
    CrashPoint("allocator.after_split");
    for (uint32_t half = larger - 1; half >= size_class; --half) {
      mapping_->At<BlockHeader>(offset + BlockBytes(half))
          ->creator.store(0, std::memory_order_relaxed);
      Push(FreeHead(half), offset + BlockBytes(half));
      if (half == size_class) break;
    }
    *block_offset = offset;
    return true;
  }
  return false;
}

Status Allocator::Allocate(uint64_t payload_bytes, uint64_t owner, uint64_t* block_offset,
                           uint64_t creator_token) {
  uint32_t size_class = SizeClassFor(payload_bytes);
  uint64_t offset = 0;
  if (size_class == 0 ||
      !(PopFree(size_class, &offset) || Carve(size_class, &offset) || Split(size_class, &offset))) {
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  "the pool " + mapping_->path() + " has no free block for " +
                      std::to_string(payload_bytes) + " bytes (heap of " +
                      std::to_string(mapping_->heap_end() - mapping_->heap_offset()) +
                      " bytes); send less at once or create the pool with a larger size");
  }
  auto* block = mapping_->At<BlockHeader>(offset);
  block->format.store(BlockFormat(size_class), std::memory_order_relaxed);
  // Before the owner: a sweeper that finds the block owned finds its creator too.
  block->creator.store(creator_token, std::memory_order_relaxed);
  block->ownership.store(BlockOwnership(owner, BlockState::kOwned), std::memory_order_release);
  // Other processes validate the block by its header (a heap walk, the reader of what it will
  // hold) without a write-back of it by the code that fills the block.
  mapping_->visibility().WriteBack(block, kBlockHeaderBytes);
  *block_offset = offset;
  return Status::OK;
}

void Allocator::MarkTaken(BlockHeader* block) const {
  block->creator.store(SelfIdentity().token, std::memory_order_relaxed);
  mapping_->visibility().WriteBack(block, kBlockHeaderBytes);
}

uint32_t Allocator::ValidSizeClass(uint64_t block_offset) const {
  uint64_t capacity = 0;
  if (ValidBlock(block_offset, &capacity) == nullptr) return 0;
  return static_cast<uint32_t>(std::bit_width(capacity + kBlockHeaderBytes) - 1);
}

bool Allocator::Overlaps(uint64_t block_offset, uint32_t size_class) const {
  if (size_class <= kMinBlockShift || size_class > kMaxBlockShift) return false;
  for (uint32_t half = size_class - 1; half >= kMinBlockShift; --half) {
    auto* inner = mapping_->At<BlockHeader>(block_offset + BlockBytes(half));
    mapping_->visibility().Invalidate(inner, kBlockHeaderBytes);
    uint64_t format = inner->format.load(std::memory_order_relaxed);
    if (format >> 32 == kBlockMagic && (format & 0xffffffff) >= kMinBlockShift &&
        (format & 0xffffffff) <= half) {
      return true;
    }
  }
  return false;
}

void Allocator::Free(uint64_t block_offset) {
  uint32_t size_class = ValidSizeClass(block_offset);
  if (size_class == 0 || Overlaps(block_offset, size_class)) return;
  auto* block = mapping_->At<BlockHeader>(block_offset);
  // Freeing a free block twice would put it on a list twice, and hand it out twice.
  if (block->ownership.load(std::memory_order_relaxed) == BlockOwnership(0, BlockState::kFree)) {
    return;
  }
  // Not taken by anyone (ReturnBlocksOfDeadTakers) from the moment it reads as free.
  block->creator.store(0, std::memory_order_relaxed);
  block->ownership.store(BlockOwnership(0, BlockState::kFree), std::memory_order_release);
  // Lines of the block this process left dirty (counters it kept updating, say) must not reach
  // memory after another process took the block over, or they would overwrite its new contents.
  mapping_->visibility().WriteBack(block, BlockBytes(size_class));
  Push(FreeHead(size_class), block_offset);
}

uint64_t Allocator::ReclaimOwnedBy(uint64_t owner, uint64_t keep, BlockStates states) {
  uint64_t freed = 0;
  uint64_t top = Visibility::LoadOrdered(&mapping_->header()->allocator.heap_top);
  if (top > mapping_->heap_end()) return 0;
  for (uint64_t offset = mapping_->heap_offset(); offset < top;) {
    uint64_t capacity;
    BlockHeader* block = ValidBlock(offset, &capacity);
    if (block == nullptr) break;  // a block being split right now: the rest waits for next time
    uint64_t ownership = block->ownership.load(std::memory_order_relaxed);
    uint64_t bytes = capacity + kBlockHeaderBytes;
    auto state = static_cast<BlockState>(ownership & 0xff);
    bool wanted =
        states == BlockStates::kAny ? state != BlockState::kFree : state == BlockState::kPublished;
    if (offset != keep && ownership >> 8 == owner && wanted) {
      Free(offset);
      ++freed;
    }
    offset += bytes;
  }
  return freed;
}

uint64_t Allocator::ReturnBlocksOfDeadTakers() {
  uint64_t returned = 0;
  // Many blocks usually share a few takers: the kernel or the lease table is asked once each.
  std::unordered_map<uint64_t, bool> alive;
  uint64_t top = Visibility::LoadOrdered(&mapping_->header()->allocator.heap_top);
  if (top > mapping_->heap_end()) return 0;
  for (uint64_t offset = mapping_->heap_offset(); offset < top;) {
    uint64_t capacity;
    BlockHeader* block = ValidBlock(offset, &capacity);
    if (block == nullptr) break;  // a block being split right now: the rest waits for next time
    uint64_t ownership = block->ownership.load(std::memory_order_acquire);
    uint64_t taker = block->creator.load(std::memory_order_relaxed);
    if (ownership == BlockOwnership(0, BlockState::kFree) && taker != 0) {
      auto known = alive.find(taker);
      if (known == alive.end())
        known = alive.emplace(taker, IsAlive(ProcessIdentity{0, taker})).first;
      // Whoever clears the mark puts the block back; its taker is dead and writes it no more.
      if (!known->second && Visibility::CompareExchange(&block->creator, taker, 0)) {
        uint32_t size_class = SizeClassOf(block);
        // A taker killed inside Split left its parts' headers in a block that is whole again.
        for (uint32_t half = kMinBlockShift; half < size_class; ++half) {
          auto* inner = mapping_->At<BlockHeader>(offset + BlockBytes(half));
          inner->format.store(0, std::memory_order_relaxed);
          mapping_->visibility().WriteBack(inner, kBlockHeaderBytes);
        }
        Push(FreeHead(size_class), offset);
        ++returned;
      }
    }
    offset += capacity + kBlockHeaderBytes;
  }
  return returned;
}

HeapUsage Allocator::Usage() const {
  HeapUsage usage;
  uint64_t top = Visibility::LoadOrdered(&mapping_->header()->allocator.heap_top);
  if (top < mapping_->heap_offset() || top > mapping_->heap_end()) {
    usage.consistent = false;
    return usage;
  }
  uint64_t offset = mapping_->heap_offset();
  while (offset < top) {
    uint64_t capacity;
    BlockHeader* block = ValidBlock(offset, &capacity);
    if (block == nullptr) {
      usage.consistent = false;
      break;
    }
    uint64_t bytes = capacity + kBlockHeaderBytes;
    auto state = static_cast<BlockState>(block->ownership.load(std::memory_order_relaxed) & 0xff);
    if (state == BlockState::kFree) {
      usage.free_bytes += bytes;
    } else {
      usage.used_bytes += bytes;
      ++usage.blocks_in_use;
    }
    offset += bytes;
  }
  usage.free_bytes += mapping_->heap_end() - top;
  return usage;
}

}  // namespace notnets::internal
