#include "fuzz_support.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "pool/allocator.h"
#include "pool/name_file.h"

namespace notnets::fuzz {

void Fail(const std::string& what) {
  std::fprintf(stderr, "notnets fuzz check failed: %s\n", what.c_str());
  std::abort();
}

uint8_t FuzzInput::TakeByte() { return position_ < size_ ? data_[position_++] : 0; }

uint32_t FuzzInput::TakeU32() {
  uint32_t value = 0;
  XorInto(&value, sizeof(value));
  return value;
}

void FuzzInput::XorInto(void* target, size_t size) {
  auto* bytes = static_cast<uint8_t*>(target);
  size_t count = std::min(size, size_ - position_);
  for (size_t i = 0; i < count; ++i) bytes[i] ^= data_[position_ + i];
  position_ += count;
}

PoolOptions SmallPoolOptions() {
  PoolOptions options;
  options.size_bytes = 1 << 20;
  options.max_services = 4;
  options.call_window_slots = 16;
  return options;
}

namespace {

// The paths of the pools this process made, whose name files go at exit.
std::vector<std::string>& PoolPaths() {
  static auto* paths = new std::vector<std::string>;
  return *paths;
}

void RemoveNameFilesOfPools() {
  for (const std::string& path : PoolPaths()) internal::RemoveNameFiles(path);
}

}  // namespace

FuzzPool::FuzzPool(const std::string& tag, const PoolOptions& options, int mappings) {
  std::string name = "fuzz-" + tag + "-" + std::to_string(::getpid());
  Pool::Remove(name);  // left by an earlier process with the same pid
  std::shared_ptr<Pool> pool;
  Status status = Pool::Create(name, options, &pool);
  NOTNETS_FUZZ_CHECK(status.ok(), "cannot create the pool: " + status.ToString());
  pools_.push_back(pool);
  if (PoolPaths().empty()) std::atexit(RemoveNameFilesOfPools);
  PoolPaths().push_back(pool->path());
  for (int i = 1; i < mappings; ++i) {
    status = Pool::Attach(name, &pool);
    NOTNETS_FUZZ_CHECK(status.ok(), "cannot attach the pool: " + status.ToString());
    pools_.push_back(pool);
  }
  Pool::Remove(name);
}

PoolSnapshot::PoolSnapshot(internal::PoolMapping* mapping) : mapping_(mapping) {
  const uint8_t* base = mapping->At<uint8_t>(0);
  front_.assign(base, base + mapping->heap_offset());
  uint64_t top = mapping->header()->allocator.heap_top.load();
  heap_.assign(base + mapping->heap_offset(), base + top);
  high_water_ = top;
}

void PoolSnapshot::Restore() {
  uint8_t* base = mapping_->At<uint8_t>(0);
  uint64_t top =
      std::min<uint64_t>(mapping_->header()->allocator.heap_top.load(), mapping_->size());
  high_water_ = std::max(high_water_, top);
  uint64_t saved_top = mapping_->heap_offset() + heap_.size();
  std::memset(base + saved_top, 0, high_water_ - saved_top);
  if (!heap_.empty()) std::memcpy(base + mapping_->heap_offset(), heap_.data(), heap_.size());
  std::memcpy(base, front_.data(), front_.size());
}

void CheckReceived(internal::PoolMapping& mapping, const ReceivedMessage& message) {
  const uint8_t* base = mapping.At<uint8_t>(0);
  const uint8_t* data = message.data();
  if (data < base || data >= base + mapping.size()) {
    NOTNETS_FUZZ_CHECK(message.size() <= 24,
                       "an inline message of " + std::to_string(message.size()) + " bytes");
    return;
  }
  uint64_t block_offset = static_cast<uint64_t>(data - base) - internal::kBlockHeaderBytes;
  internal::Allocator allocator(&mapping);
  internal::BlockHeader* block = allocator.ValidBlock(block_offset);
  NOTNETS_FUZZ_CHECK(block != nullptr, "a message at pool offset " + std::to_string(data - base) +
                                           " that is not the payload of a valid block");
  uint64_t capacity = internal::Allocator::PayloadCapacity(internal::Allocator::SizeClassOf(block));
  NOTNETS_FUZZ_CHECK(message.size() <= capacity, "a message of " + std::to_string(message.size()) +
                                                     " bytes in a block of " +
                                                     std::to_string(capacity));
}

}  // namespace notnets::fuzz
