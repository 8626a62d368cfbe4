#include "payload.h"

#include <cstring>

namespace notnets::bench {
namespace {

constexpr std::string_view kPattern = "hello world ";

Status Mismatch(std::string_view what, size_t expected, size_t got) {
  return Status(StatusCode::DATA_LOSS, "reply differs from the request (" + std::string(what) +
                                           ": expected " + std::to_string(expected) + ", got " +
                                           std::to_string(got) + ")");
}

}  // namespace

Payload::Payload(size_t size) : bytes_(size, '\0') {
  for (size_t i = 0; i < size; ++i) bytes_[i] = kPattern[i % kPattern.size()];
}

std::string_view Payload::Next() {
  ++number_;
  if (bytes_.size() >= kStampedSize) std::memcpy(bytes_.data(), &number_, sizeof(number_));
  return bytes_;
}

Status Payload::Check(std::string_view reply) const {
  if (reply.size() != bytes_.size()) return Mismatch("size", bytes_.size(), reply.size());
  if (std::memcmp(reply.data(), bytes_.data(), reply.size()) != 0) {
    return Status(StatusCode::DATA_LOSS, "reply differs from the request");
  }
  return Status::OK;
}

Status Payload::CheckNumber(std::string_view reply, uint64_t number) const {
  size_t size = bytes_.size();
  if (size < kStampedSize) return Check(reply);
  if (reply.size() != size) return Mismatch("size", size, reply.size());
  uint64_t got = 0;
  std::memcpy(&got, reply.data(), sizeof(got));
  if (got != number) return Mismatch("call number", number, got);
  if (std::memcmp(reply.data() + sizeof(got), bytes_.data() + sizeof(got), size - sizeof(got))) {
    return Status(StatusCode::DATA_LOSS, "reply differs from the request");
  }
  return Status::OK;
}

void Payload::WriteStamps(uint8_t* buffer) const {
  size_t size = bytes_.size();
  if (size < kStampedSize) {
    std::memcpy(buffer, bytes_.data(), size);
    return;
  }
  std::memcpy(buffer, &number_, sizeof(number_));
  std::memcpy(buffer + size - sizeof(number_), &number_, sizeof(number_));
}

Status Payload::CheckStamps(std::string_view reply) const {
  size_t size = bytes_.size();
  if (reply.size() != size) return Mismatch("size", size, reply.size());
  if (size < kStampedSize) return Check(reply);
  uint64_t first = 0, last = 0;
  std::memcpy(&first, reply.data(), sizeof(first));
  std::memcpy(&last, reply.data() + size - sizeof(last), sizeof(last));
  if (first != number_) return Mismatch("first stamp", number_, first);
  if (last != number_) return Mismatch("last stamp", number_, last);
  return Status::OK;
}

}  // namespace notnets::bench
