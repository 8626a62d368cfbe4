#include "notnets/message.h"

#include <cassert>
#include <cstring>
#include <utility>

#include "rpc/buffer_cache.h"

namespace notnets {

MessageBuffer::MessageBuffer(MessageBuffer&& other) noexcept
    : cache_(std::move(other.cache_)),
      offset_(other.offset_),
      data_(std::exchange(other.data_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      size_(std::exchange(other.size_, 0)) {}

MessageBuffer& MessageBuffer::operator=(MessageBuffer&& other) noexcept {
  if (this != &other) {
    if (cache_ != nullptr) cache_->Release(offset_);
    cache_ = std::move(other.cache_);
    offset_ = other.offset_;
    data_ = std::exchange(other.data_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MessageBuffer::~MessageBuffer() {
  if (cache_ != nullptr) cache_->Release(offset_);
}

void MessageBuffer::set_size(size_t size) {
  assert(size <= capacity_);
  size_ = size <= capacity_ ? size : capacity_;
}

// Moves copy the whole inline buffer: a fixed-size copy is a couple of instructions, where one
// of size_ bytes is a call.
ReceivedMessage::ReceivedMessage(ReceivedMessage&& other) noexcept
    : cache_(std::move(other.cache_)),
      offset_(other.offset_),
      pool_data_(std::exchange(other.pool_data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {
  std::memcpy(inline_, other.inline_, kInlineCapacity);
}

ReceivedMessage& ReceivedMessage::operator=(ReceivedMessage&& other) noexcept {
  if (this != &other) {
    Release();
    cache_ = std::move(other.cache_);
    offset_ = other.offset_;
    pool_data_ = std::exchange(other.pool_data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    std::memcpy(inline_, other.inline_, kInlineCapacity);
  }
  return *this;
}

ReceivedMessage::~ReceivedMessage() { Release(); }

void ReceivedMessage::Release() {
  if (cache_ != nullptr) {
    cache_->ReleaseReceived(offset_);
    cache_.reset();
  }
  pool_data_ = nullptr;
  size_ = 0;
}

}  // namespace notnets
