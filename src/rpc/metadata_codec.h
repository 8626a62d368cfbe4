// The encoding of metadata and status messages in a pool block.
//
//   u32 magic "NNMD" | u32 entry count | u32 status message bytes | u32 zero | message bytes
//   then per entry: u32 section | u32 key bytes | u32 value bytes | key | value
#ifndef NOTNETS_RPC_METADATA_CODEC_H_
#define NOTNETS_RPC_METADATA_CODEC_H_

#include <cstdint>
#include <string>

#include "notnets/metadata.h"

namespace notnets::internal {

// The request header that carries an at-most-once call's token (8 bytes, little-endian). A
// pseudo-header name, which gRPC metadata cannot use, so it never meets a user's key.
inline constexpr char kCallTokenKey[] = ":notnets-call-token";

enum class MetadataSection : uint8_t {
  kRequest = 0,   // client -> server headers
  kInitial = 1,   // server -> client initial metadata
  kTrailing = 2,  // server -> client trailers
};
inline constexpr int kMetadataSectionCount = 3;

// What a metadata block carries. Pointers may be null for absent sections.
struct MetadataSet {
  const std::string* status_message = nullptr;
  const Metadata* sections[kMetadataSectionCount] = {};
};

// Bytes EncodeMetadata writes for `set`.
uint64_t EncodedMetadataBytes(const MetadataSet& set);
// Writes `set` to `out`, which holds EncodedMetadataBytes(set) bytes.
void EncodeMetadata(const MetadataSet& set, uint8_t* out);

// Parses `size` bytes at `data` (untrusted: every length is checked). Entries of each section go
// to `sections[i]` when not null. False if the bytes are malformed.
bool DecodeMetadata(const uint8_t* data, uint64_t size, std::string* status_message,
                    Metadata* const sections[kMetadataSectionCount]);

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_METADATA_CODEC_H_
