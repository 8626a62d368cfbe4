#include "rpc/metadata_codec.h"

#include <cstring>

namespace notnets::internal {

namespace {

constexpr uint32_t kMetadataMagic = 0x444d4e4e;  // "NNMD"
constexpr uint64_t kHeaderBytes = 16;
constexpr uint64_t kEntryHeaderBytes = 12;

void PutU32(uint8_t** out, uint32_t value) {
  std::memcpy(*out, &value, 4);
  *out += 4;
}

void PutBytes(uint8_t** out, const std::string& bytes) {
  std::memcpy(*out, bytes.data(), bytes.size());
  *out += bytes.size();
}

uint32_t GetU32(const uint8_t* at) {
  uint32_t value;
  std::memcpy(&value, at, 4);
  return value;
}

}  // namespace

uint64_t EncodedMetadataBytes(const MetadataSet& set) {
  uint64_t bytes = kHeaderBytes + (set.status_message ? set.status_message->size() : 0);
  for (const Metadata* section : set.sections) {
    if (section == nullptr) continue;
    for (const auto& [key, value] : *section) {
      bytes += kEntryHeaderBytes + key.size() + value.size();
    }
  }
  return bytes;
}

void EncodeMetadata(const MetadataSet& set, uint8_t* out) {
  uint32_t count = 0;
  for (const Metadata* section : set.sections) count += section ? section->size() : 0;
  PutU32(&out, kMetadataMagic);
  PutU32(&out, count);
  PutU32(&out, set.status_message ? set.status_message->size() : 0);
  PutU32(&out, 0);
  if (set.status_message) PutBytes(&out, *set.status_message);
  for (int i = 0; i < kMetadataSectionCount; ++i) {
    if (set.sections[i] == nullptr) continue;
    for (const auto& [key, value] : *set.sections[i]) {
      PutU32(&out, static_cast<uint32_t>(i));
      PutU32(&out, static_cast<uint32_t>(key.size()));
      PutU32(&out, static_cast<uint32_t>(value.size()));
      PutBytes(&out, key);
      PutBytes(&out, value);
    }
  }
}

bool DecodeMetadata(const uint8_t* data, uint64_t size, std::string* status_message,
                    Metadata* const sections[kMetadataSectionCount]) {
  if (size < kHeaderBytes || GetU32(data) != kMetadataMagic) return false;
  uint32_t count = GetU32(data + 4);
  uint64_t message_bytes = GetU32(data + 8);
  uint64_t cursor = kHeaderBytes;
  if (message_bytes > size - cursor) return false;
  if (status_message != nullptr) {
    status_message->assign(reinterpret_cast<const char*>(data + cursor), message_bytes);
  }
  cursor += message_bytes;
  for (uint32_t i = 0; i < count; ++i) {
    if (size - cursor < kEntryHeaderBytes) return false;
    uint32_t section = GetU32(data + cursor);
    uint64_t key_bytes = GetU32(data + cursor + 4);
    uint64_t value_bytes = GetU32(data + cursor + 8);
    cursor += kEntryHeaderBytes;
    if (section >= kMetadataSectionCount || key_bytes > size - cursor ||
        value_bytes > size - cursor - key_bytes) {
      return false;
    }
    if (sections[section] != nullptr) {
      sections[section]->emplace(
          std::string(reinterpret_cast<const char*>(data + cursor), key_bytes),
          std::string(reinterpret_cast<const char*>(data + cursor + key_bytes), value_bytes));
    }
    cursor += key_bytes + value_bytes;
  }
  return true;
}

}  // namespace notnets::internal
