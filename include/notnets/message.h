// Message memory handed between caller and callee without copying.
#ifndef NOTNETS_MESSAGE_H_
#define NOTNETS_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace notnets {

namespace internal {
class BufferCache;
}  // namespace internal

// A pool buffer owned by the writer, to be filled in place and then sent (zero-copy path). Move
// only. A buffer destroyed without being sent goes back to its connection's cache.
class MessageBuffer {
 public:
  MessageBuffer() = default;
  MessageBuffer(MessageBuffer&& other) noexcept;
  MessageBuffer& operator=(MessageBuffer&& other) noexcept;
  MessageBuffer(const MessageBuffer&) = delete;
  MessageBuffer& operator=(const MessageBuffer&) = delete;
  ~MessageBuffer();

  // True if this holds a buffer.
  bool valid() const { return data_ != nullptr; }
  // Writable memory of capacity() bytes.
  uint8_t* data() { return data_; }
  // The bytes data() may hold: at least the size asked for.
  size_t capacity() const { return capacity_; }
  // The message length that will be sent; starts at the size asked for.
  size_t size() const { return size_; }
  // Sets the message length; `size` must not exceed capacity().
  void set_size(size_t size);

 private:
  friend class internal::BufferCache;
  std::shared_ptr<internal::BufferCache> cache_;
  uint64_t offset_ = 0;
  uint8_t* data_ = nullptr;
  size_t capacity_ = 0;
  size_t size_ = 0;
};

// A message received from the peer, read in place. Move only. Its memory is released back to the
// pool when it is destroyed (even after its Channel or Server is gone), so a view obtained from it
// must not outlive it.
class ReceivedMessage {
 public:
  ReceivedMessage() = default;
  ReceivedMessage(ReceivedMessage&& other) noexcept;
  ReceivedMessage& operator=(ReceivedMessage&& other) noexcept;
  ReceivedMessage(const ReceivedMessage&) = delete;
  ReceivedMessage& operator=(const ReceivedMessage&) = delete;
  ~ReceivedMessage();

  // The message's bytes, valid while this message holds them.
  const uint8_t* data() const { return pool_data_ != nullptr ? pool_data_ : inline_; }
  // The message's length in bytes (0 for an empty or released message).
  size_t size() const { return size_; }
  // data() and size() as a string_view, valid as long as data().
  std::string_view view() const {
    return std::string_view(reinterpret_cast<const char*>(data()), size_);
  }

  // Releases the memory now; the message becomes empty.
  void Release();

 private:
  friend class internal::BufferCache;
  static constexpr size_t kInlineCapacity = 32;
  std::shared_ptr<internal::BufferCache> cache_;
  uint64_t offset_ = 0;
  const uint8_t* pool_data_ = nullptr;
  size_t size_ = 0;
  uint8_t inline_[kInlineCapacity] = {};
};

}  // namespace notnets

#endif  // NOTNETS_MESSAGE_H_
