// The call encoding: what the client encodes the server decodes (and back), a peer's invalid
// descriptors are named, and no block leaks on the way.
#include "rpc/call_codec.h"

#include <cstring>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "pool/allocator.h"
#include "pool/pool_access.h"
#include "pool/pool_mapping.h"
#include "rpc/metadata_codec.h"
#include "test_pool.h"

namespace notnets::internal {
namespace {

using Clock = std::chrono::steady_clock;
using notnets::testing::TestPool;

constexpr uint64_t kClient = 0x10;
constexpr uint64_t kServer = 0x11;

class CallCodecTest : public ::testing::Test {
 protected:
  CallCodecTest()
      : pool_(SmallPool()),
        client_(std::make_shared<BufferCache>(pool_.pool(), kClient, 0)),
        server_(std::make_shared<BufferCache>(pool_.pool(), kServer, 0)),
        blocks_before_(BlocksInUse()) {}
  ~CallCodecTest() override {
    client_.reset();
    server_.reset();
    // Every block went back to a cache, and the caches back to the pool.
    EXPECT_EQ(BlocksInUse(), blocks_before_);
  }
  uint64_t BlocksInUse() {
    return Allocator(&PoolAccess::mapping(*pool_.pool())).Usage().blocks_in_use;
  }
  static PoolOptions SmallPool() {
    PoolOptions options;
    options.size_bytes = 4 << 20;
    options.max_services = 4;
    return options;
  }

  TestPool pool_;
  std::shared_ptr<BufferCache> client_;
  std::shared_ptr<BufferCache> server_;
  uint64_t blocks_before_;
};

TEST_F(CallCodecTest, ASmallRequestTravelsInlineWithItsMethodAndTimeout) {
  Message message;
  ASSERT_TRUE(
      EncodeRequest(client_.get(), kServer, 7, 5000, OutgoingPayload{"hello"}, {}, 0, &message)
          .ok());
  EXPECT_EQ(message.kind(), DescriptorKind::kRequest);
  EXPECT_EQ(message.code, 7u);
  EXPECT_EQ(message.timeout_ns, 5000u);
  EXPECT_EQ(message.flags & (kPayloadInBlock | kHasMetadata), 0);

  ReceivedMessage payload;
  Metadata headers;
  EXPECT_EQ(DecodeRequest(server_.get(), message, &payload, &headers), nullptr);
  EXPECT_EQ(payload.view(), "hello");
  EXPECT_TRUE(headers.empty());
}

TEST_F(CallCodecTest, ALargeRequestAndItsHeadersTravelInBlocks) {
  std::string big(5000, 'x');
  Metadata headers{{"key", "value"}};
  Message message;
  ASSERT_TRUE(
      EncodeRequest(client_.get(), kServer, 1, 0, OutgoingPayload{big}, headers, 0, &message).ok());
  EXPECT_NE(message.flags & kPayloadInBlock, 0);
  EXPECT_NE(message.flags & kHasMetadata, 0);

  ReceivedMessage payload;
  Metadata decoded;
  EXPECT_EQ(DecodeRequest(server_.get(), message, &payload, &decoded), nullptr);
  EXPECT_EQ(payload.view(), big);
  EXPECT_EQ(decoded, headers);
}

TEST_F(CallCodecTest, ABufferIsHandedOverAndAnEmptyOneRefused) {
  MessageBuffer buffer;
  ASSERT_TRUE(client_->Allocate(100, &buffer).ok());
  std::memset(buffer.data(), 'b', 100);
  Message message;
  ASSERT_TRUE(
      EncodeRequest(client_.get(), kServer, 0, 0, OutgoingPayload{{}, &buffer}, {}, 0, &message)
          .ok());
  EXPECT_FALSE(buffer.valid());
  ReceivedMessage payload;
  Metadata headers;
  EXPECT_EQ(DecodeRequest(server_.get(), message, &payload, &headers), nullptr);
  EXPECT_EQ(payload.view(), std::string(100, 'b'));

  Message refused;
  Status status =
      EncodeRequest(client_.get(), kServer, 0, 0, OutgoingPayload{{}, &buffer}, {}, 0, &refused);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST_F(CallCodecTest, ACallTokenTravelsAsAHeaderAndIsTakenOut) {
  Metadata headers{{"key", "value"}};
  Message message;
  ASSERT_TRUE(EncodeRequest(client_.get(), kServer, 0, 0, OutgoingPayload{"x"}, headers,
                            0x1234567890abcdef, &message)
                  .ok());
  ReceivedMessage payload;
  Metadata decoded;
  ASSERT_EQ(DecodeRequest(server_.get(), message, &payload, &decoded), nullptr);
  uint64_t token = 0;
  EXPECT_TRUE(TakeCallToken(&decoded, &token));
  EXPECT_EQ(token, 0x1234567890abcdefu);
  EXPECT_EQ(decoded, headers);  // the token is gone, the user's headers stay
  EXPECT_FALSE(TakeCallToken(&decoded, &token));
}

TEST_F(CallCodecTest, AMalformedTokenIsTakenOutButNotUsed) {
  Metadata headers{{kCallTokenKey, "short"}};
  uint64_t token = 0;
  EXPECT_FALSE(TakeCallToken(&headers, &token));
  EXPECT_TRUE(headers.empty());
}

TEST_F(CallCodecTest, TheDeadlineIsTheTimeoutFromNowAndAnUnaddableOneIsNone) {
  Message message;
  EXPECT_EQ(RequestDeadline(message), Clock::time_point::max());
  auto before = Clock::now();
  message.timeout_ns = 1000000000;
  auto deadline = RequestDeadline(message);
  EXPECT_GE(deadline, before + std::chrono::seconds(1));
  EXPECT_LE(deadline, Clock::now() + std::chrono::seconds(1));
  message.timeout_ns = ~uint64_t{0};
  EXPECT_EQ(RequestDeadline(message), Clock::time_point::max());
}

TEST_F(CallCodecTest, InvalidRequestsAreNamedAndTheirValidBlocksStillTaken) {
  Metadata headers{{"key", "value"}};
  ReceivedMessage payload;
  Metadata decoded;

  Message response;
  EncodeResponse(server_.get(), kClient, 1, Status::OK, nullptr, "x", {}, {}, &response);
  EXPECT_STREQ(DecodeRequest(server_.get(), response, &payload, &decoded),
               "a descriptor that is not a request");

  Message message;
  ASSERT_TRUE(
      EncodeRequest(client_.get(), kServer, 0, 0, OutgoingPayload{"x"}, headers, 0, &message).ok());
  Message too_long = message;
  too_long.inline_length = kInlineMessageBytes + 1;
  EXPECT_STREQ(DecodeRequest(server_.get(), too_long, &payload, &decoded),
               "an invalid inline length");
  EXPECT_EQ(decoded, headers);  // the metadata block was taken (and released) anyway

  Message bad_block = message;
  bad_block.flags |= kPayloadInBlock;
  bad_block.payload.block = BlockPayload{12345, 10};
  bad_block.flags &= ~kHasMetadata;
  EXPECT_STREQ(DecodeRequest(server_.get(), bad_block, &payload, &decoded),
               "an invalid payload block");

  Message bad_metadata = message;
  bad_metadata.metadata_offset = 12345;
  EXPECT_STREQ(DecodeRequest(server_.get(), bad_metadata, &payload, &decoded),
               "an invalid metadata block");
}

TEST_F(CallCodecTest, AResponseCarriesItsStatusMetadataAndPayload) {
  Metadata initial{{"i", "1"}};
  Metadata trailing{{"t", "2"}};
  std::string big(3000, 'r');
  Message message;
  EncodeResponse(server_.get(), kClient, 99, Status::OK, nullptr, {}, initial, trailing, &message);
  EXPECT_EQ(message.call_id, 99u);
  EXPECT_EQ(message.kind(), DescriptorKind::kResponse);

  StatusCode code = StatusCode::UNKNOWN;
  std::string status_message;
  Metadata got_initial, got_trailing;
  ReceivedMessage payload;
  EXPECT_EQ(DecodeResponse(client_.get(), message, &code, &status_message, &got_initial,
                           &got_trailing, &payload),
            DecodeError::kNone);
  EXPECT_EQ(code, StatusCode::OK);
  EXPECT_TRUE(status_message.empty());
  EXPECT_EQ(got_initial, initial);
  EXPECT_EQ(got_trailing, trailing);
  EXPECT_EQ(payload.size(), 0u);

  MessageBuffer buffer;
  ASSERT_TRUE(server_->Allocate(big.size(), &buffer).ok());
  std::memcpy(buffer.data(), big.data(), big.size());
  Message with_buffer;
  EncodeResponse(server_.get(), kClient, 100, Status::OK, &buffer, {}, {}, {}, &with_buffer);
  EXPECT_EQ(with_buffer.flags & kHasMetadata, 0);
  EXPECT_EQ(DecodeResponse(client_.get(), with_buffer, &code, &status_message, &got_initial,
                           &got_trailing, &payload),
            DecodeError::kNone);
  EXPECT_EQ(payload.view(), big);
}

TEST_F(CallCodecTest, AFailedResponseCarriesItsMessageAndNoPayload) {
  MessageBuffer buffer;
  ASSERT_TRUE(server_->Allocate(100, &buffer).ok());
  Message message;
  EncodeResponse(server_.get(), kClient, 1, Status(StatusCode::NOT_FOUND, "no such thing"), &buffer,
                 "ignored", {}, {}, &message);
  EXPECT_EQ(message.flags & kPayloadInBlock, 0);
  EXPECT_EQ(message.inline_length, 0);
  buffer = MessageBuffer();  // the handler's buffer goes back unsent

  StatusCode code = StatusCode::OK;
  std::string status_message;
  Metadata initial, trailing;
  ReceivedMessage payload;
  EXPECT_EQ(
      DecodeResponse(client_.get(), message, &code, &status_message, &initial, &trailing, &payload),
      DecodeError::kNone);
  EXPECT_EQ(code, StatusCode::NOT_FOUND);
  EXPECT_EQ(status_message, "no such thing");
}

TEST_F(CallCodecTest, InvalidResponsesAreNamedInOrder) {
  StatusCode code;
  std::string status_message;
  Metadata initial, trailing;
  ReceivedMessage payload;
  Message message;
  EncodeResponse(server_.get(), kClient, 1, Status::OK, nullptr, "ok", {}, {}, &message);

  Message bad_code = message;
  bad_code.code = 1000;
  EXPECT_EQ(DecodeResponse(client_.get(), bad_code, &code, &status_message, &initial, &trailing,
                           &payload),
            DecodeError::kStatusCode);
  Message too_long = message;
  too_long.inline_length = kInlineMessageBytes + 1;
  EXPECT_EQ(DecodeResponse(client_.get(), too_long, &code, &status_message, &initial, &trailing,
                           &payload),
            DecodeError::kInlineLength);
  Message bad_block = message;
  bad_block.flags |= kPayloadInBlock;
  bad_block.payload.block = BlockPayload{12345, 10};
  EXPECT_EQ(DecodeResponse(client_.get(), bad_block, &code, &status_message, &initial, &trailing,
                           &payload),
            DecodeError::kPayloadBlock);
  Message bad_metadata = bad_code;  // the metadata is judged first
  bad_metadata.flags |= kHasMetadata;
  bad_metadata.metadata_offset = 12345;
  EXPECT_EQ(DecodeResponse(client_.get(), bad_metadata, &code, &status_message, &initial, &trailing,
                           &payload),
            DecodeError::kMetadataBlock);

  // A block that validates but does not decode.
  uint64_t block;
  ASSERT_TRUE(server_->AllocateBlock(64, &block).ok());
  std::memset(server_->PayloadOf(block), 0xff, 64);
  server_->PublishBlock(block, 64, kClient);
  Message garbled = message;
  garbled.flags |= kHasMetadata;
  garbled.metadata_offset = block;
  EXPECT_EQ(
      DecodeResponse(client_.get(), garbled, &code, &status_message, &initial, &trailing, &payload),
      DecodeError::kMetadataEncoding);
  EXPECT_STREQ(DecodeErrorName(DecodeError::kMetadataEncoding), "metadata encoding");
}

TEST_F(CallCodecTest, AnUnsentMessageGivesItsBlocksBack) {
  std::string big(5000, 'x');
  Message message;
  ASSERT_TRUE(
      EncodeRequest(client_.get(), kServer, 0, 0, OutgoingPayload{big}, {{"k", "v"}}, 0, &message)
          .ok());
  EXPECT_GT(BlocksInUse(), blocks_before_);
  ReleaseEncoded(client_.get(), message);
  // The fixture's destructor checks that nothing is left once the caches are gone.
}

}  // namespace
}  // namespace notnets::internal
