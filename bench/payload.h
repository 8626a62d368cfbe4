// The bytes a client sends and expects back. A request of n bytes repeats "hello world " up to n
// bytes, so the default 11-byte request is "hello world". From 16 bytes on, its first 8 bytes
// carry the call's number, so that a stale or crossed reply cannot pass for the right one.
#ifndef NOTNETS_BENCH_PAYLOAD_H_
#define NOTNETS_BENCH_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "notnets/status.h"

namespace notnets::bench {

// The request of the default run.
inline constexpr std::string_view kEchoPayload = "hello world";

// Smallest request that carries its call's number.
inline constexpr size_t kStampedSize = 16;

// The requests of one client, one call after another.
class Payload {
 public:
  // Requests of `size` bytes.
  explicit Payload(size_t size);

  // Numbers the next call and returns its request (valid until the next call to Next).
  std::string_view Next();
  // The request of the current call.
  std::string_view current() const { return bytes_; }
  size_t size() const { return bytes_.size(); }

  // OK if `reply` is the current request, DATA_LOSS otherwise.
  Status Check(std::string_view reply) const;
  // The current call's number.
  uint64_t number() const { return number_; }
  // OK if `reply` is the request of call `number` (an earlier one, for overlapping calls).
  Status CheckNumber(std::string_view reply, uint64_t number) const;

  // The stamp-only protocol of the *-stamp cases, where neither side touches the bytes between:
  // writes the current call's number into the first and last 8 bytes of `buffer` (or the whole
  // request if it is shorter than kStampedSize).
  void WriteStamps(uint8_t* buffer) const;
  // OK if `reply` has the current request's size and stamps, DATA_LOSS otherwise.
  Status CheckStamps(std::string_view reply) const;

 private:
  std::string bytes_;
  uint64_t number_ = 0;
};

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_PAYLOAD_H_
