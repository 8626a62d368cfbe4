// metadata_fuzzer: DecodeMetadata, which parses the metadata blocks a peer writes, on arbitrary
// bytes.
//
// Proves: it never reads outside the `size` bytes it is given (the input is a heap buffer of
// exactly that size, under AddressSanitizer), and what it accepts is consistent: encoding the
// decoded status message and metadata again and decoding that gives the same values back.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "rpc/metadata_codec.h"

namespace notnets::fuzz {
namespace {

constexpr int kSections = internal::kMetadataSectionCount;

struct Decoded {
  std::string status_message;
  Metadata sections[kSections];

  bool Decode(const uint8_t* data, size_t size) {
    Metadata* targets[kSections] = {&sections[0], &sections[1], &sections[2]};
    return internal::DecodeMetadata(data, size, &status_message, targets);
  }
};

int TestOneInput(const uint8_t* data, size_t size) {
  Decoded decoded;
  if (!decoded.Decode(data, size)) return 0;

  internal::MetadataSet set;
  set.status_message = &decoded.status_message;
  for (int i = 0; i < kSections; ++i) set.sections[i] = &decoded.sections[i];
  std::vector<uint8_t> encoded(internal::EncodedMetadataBytes(set));
  internal::EncodeMetadata(set, encoded.data());

  Decoded again;
  NOTNETS_FUZZ_CHECK(again.Decode(encoded.data(), encoded.size()),
                     "metadata that decoded and was encoded again does not decode");
  NOTNETS_FUZZ_CHECK(again.status_message == decoded.status_message,
                     "the status message changed on a round trip");
  for (int i = 0; i < kSections; ++i) {
    NOTNETS_FUZZ_CHECK(again.sections[i] == decoded.sections[i],
                       "metadata section " + std::to_string(i) + " changed on a round trip");
  }
  return 0;
}

}  // namespace
}  // namespace notnets::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return notnets::fuzz::TestOneInput(data, size);
}
