#include "rpc/metadata_codec.h"

#include <vector>

#include "gtest/gtest.h"

namespace notnets::internal {
namespace {

std::vector<uint8_t> Encode(const MetadataSet& set) {
  std::vector<uint8_t> bytes(EncodedMetadataBytes(set));
  EncodeMetadata(set, bytes.data());
  return bytes;
}

TEST(MetadataCodecTest, RoundTripsEverySectionAndBinaryValues) {
  std::string message = "not found: key 7";
  Metadata request{{"user", "alice"}, {"trace-bin", std::string("\0\x01\xff", 3)}};
  Metadata initial{{"init", "1"}};
  Metadata trailing{{"t", ""}, {"t", "second"}};
  MetadataSet set;
  set.status_message = &message;
  set.sections[0] = &request;
  set.sections[1] = &initial;
  set.sections[2] = &trailing;
  std::vector<uint8_t> bytes = Encode(set);

  std::string decoded_message;
  Metadata out[3];
  Metadata* sections[3] = {&out[0], &out[1], &out[2]};
  ASSERT_TRUE(DecodeMetadata(bytes.data(), bytes.size(), &decoded_message, sections));
  EXPECT_EQ(decoded_message, message);
  EXPECT_EQ(out[0], request);
  EXPECT_EQ(out[1], initial);
  EXPECT_EQ(out[2], trailing);
}

TEST(MetadataCodecTest, RejectsEveryTruncation) {
  std::string message = "m";
  Metadata request{{"key", "value"}, {"k2", "v2"}};
  MetadataSet set;
  set.status_message = &message;
  set.sections[0] = &request;
  std::vector<uint8_t> bytes = Encode(set);
  Metadata out;
  Metadata* sections[3] = {&out, nullptr, nullptr};
  for (size_t size = 0; size < bytes.size(); ++size) {
    out.clear();
    EXPECT_FALSE(DecodeMetadata(bytes.data(), size, nullptr, sections)) << size;
  }
}

TEST(MetadataCodecTest, RejectsHugeLengthsAndBadSections) {
  Metadata request{{"key", "value"}};
  MetadataSet set;
  set.sections[0] = &request;
  std::vector<uint8_t> bytes = Encode(set);
  Metadata out;
  Metadata* sections[3] = {&out, nullptr, nullptr};

  std::vector<uint8_t> huge_key = bytes;
  huge_key[16 + 4] = 0xff;
  huge_key[16 + 7] = 0xff;
  EXPECT_FALSE(DecodeMetadata(huge_key.data(), huge_key.size(), nullptr, sections));

  std::vector<uint8_t> bad_section = bytes;
  bad_section[16] = 7;
  EXPECT_FALSE(DecodeMetadata(bad_section.data(), bad_section.size(), nullptr, sections));

  std::vector<uint8_t> bad_magic = bytes;
  bad_magic[0] ^= 1;
  EXPECT_FALSE(DecodeMetadata(bad_magic.data(), bad_magic.size(), nullptr, sections));
}

}  // namespace
}  // namespace notnets::internal
