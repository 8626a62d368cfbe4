// Message size limits: the server's (ServerBuilder::SetMaxReceiveMessageSize and
// SetMaxSendMessageSize), the channel's (its arguments) and gRPC's default 4 MiB receive limit,
// enforced on both paths with gRPC's code and words; and the server's limit on request metadata.
#include <string>

#include "grpc_path_test.h"

namespace notnets::test {
namespace {

using ::grpc::ClientContext;
using ::grpc::Status;
using ::grpc::StatusCode;

constexpr int kServerReceiveLimit = 64 * 1024;
constexpr int kServerSendLimit = 128 * 1024;
constexpr int kClientSendLimit = 256 * 1024;
// gRPC's receive limit when none is set, on either side.
constexpr int kDefaultReceiveLimit = 4 * 1024 * 1024;

std::string TooLarge(const char* side, size_t bytes, int limit) {
  return std::string(side) + " message larger than max (" + std::to_string(bytes) + " vs. " +
         std::to_string(limit) + ")";
}

// Expects `status` to be gRPC's for a message over `limit`, whose size the test cannot know in
// advance (the server adds fields to what it sends): it is read from the message.
void ExpectOverLimit(const Status& status, const char* side, int limit) {
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  std::string prefix = std::string(side) + " message larger than max (";
  const std::string& message = status.error_message();
  ASSERT_TRUE(message.starts_with(prefix)) << message;
  size_t bytes = std::stoul(message.substr(prefix.size()));
  EXPECT_GT(bytes, static_cast<size_t>(limit));
  EXPECT_EQ(message, TooLarge(side, bytes, limit));
}

// A server and a channel with limits of their own.
class MessageSizeTest : public GrpcPathTest {
 protected:
  void ConfigureServer(::grpc::ServerBuilder* builder) override {
    builder->SetMaxReceiveMessageSize(kServerReceiveLimit);
    builder->SetMaxSendMessageSize(kServerSendLimit);
  }
  ::grpc::ChannelArguments ChannelArguments() override {
    ::grpc::ChannelArguments arguments;
    arguments.SetMaxSendMessageSize(kClientSendLimit);
    return arguments;
  }
};

// gRPC's defaults on both sides.
class DefaultMessageSizeTest : public GrpcPathTest {};

// A server whose metadata limit (GRPC_ARG_MAX_METADATA_SIZE) is above gRPC's default of 8 KiB.
class MetadataSizeTest : public GrpcPathTest {
 protected:
  static constexpr int kServerMetadataLimit = 12 * 1024;
  void ConfigureServer(::grpc::ServerBuilder* builder) override {
    builder->AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, kServerMetadataLimit);
  }
};

INSTANTIATE_TEST_SUITE_P(Variants, MessageSizeTest, ::testing::ValuesIn(AllVariants()),
                         VariantName);
INSTANTIATE_TEST_SUITE_P(Variants, DefaultMessageSizeTest, ::testing::ValuesIn(AllVariants()),
                         VariantName);
INSTANTIATE_TEST_SUITE_P(Variants, MetadataSizeTest, ::testing::ValuesIn(AllVariants()),
                         VariantName);

// The status of an Echo call with one metadata entry of `bytes` bytes.
Status CallWithMetadata(TestService::Stub* stub, size_t bytes) {
  EchoRequest request;
  request.set_payload("m");
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  context.AddMetadata("x-test-big", std::string(bytes, 'm'));
  return stub->Echo(&context, request, &response);
}

TEST_P(DefaultMessageSizeTest, ServerRefusesMetadataOverTheDefaultLimit) {
  EXPECT_TRUE(CallWithMetadata(stub_.get(), 6 * 1024).ok());
  Status status = CallWithMetadata(stub_.get(), 10 * 1024);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_EQ(status.error_message(), "received initial metadata size exceeds limit");
  ExpectPaths(2);
}

// Only within the limit: far past it HTTP/2 sometimes closes the connection instead of
// answering RESOURCE_EXHAUSTED, and DefaultMessageSizeTest shows the refusal.
TEST_P(MetadataSizeTest, ServerTakesMetadataPastTheDefaultUpToItsOwnLimit) {
  Status status = CallWithMetadata(stub_.get(), 10 * 1024);
  EXPECT_TRUE(status.ok()) << status.error_message();
  ExpectPaths(1);
}

TEST_P(MessageSizeTest, RequestWithinTheLimitsPasses) {
  EchoRequest request;
  request.set_payload(Pattern(kServerReceiveLimit - 100));
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  Status status = stub_->Echo(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.payload(), request.payload());
  ExpectPaths(1);
}

TEST_P(MessageSizeTest, ServerRefusesRequestOverItsReceiveLimit) {
  EchoRequest request;
  request.set_payload(Pattern(kServerReceiveLimit + 1000));
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  Status status = stub_->Echo(&context, request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            TooLarge("Received", request.ByteSizeLong(), kServerReceiveLimit));
  ExpectPaths(1);
}

TEST_P(MessageSizeTest, ServerDoesNotSendResponseOverItsSendLimit) {
  EchoRequest request;
  request.set_response_bytes(kServerSendLimit + 1000);
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  Status status = stub_->Echo(&context, request, &response);
  ExpectOverLimit(status, "Sent", kServerSendLimit);
  ExpectPaths(1);
}

TEST_P(MessageSizeTest, ClientDoesNotSendRequestOverItsSendLimit) {
  EchoRequest request;
  request.set_payload(Pattern(kClientSendLimit + 1000));
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  Status status = stub_->Echo(&context, request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(), TooLarge("Sent", request.ByteSizeLong(), kClientSendLimit));
  ExpectPaths(1);
}

TEST_P(MessageSizeTest, ClientStreamWriteOverTheSendLimitFailsTheStream) {
  ClientContext context;
  SetHangDeadline(&context);
  StreamSummary summary;
  auto writer = stub_->ClientStream(&context, &summary);
  StreamMessage message = NumberedMessage(0, kClientSendLimit + 1000);
  EXPECT_FALSE(writer->Write(message));
  Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(), TooLarge("Sent", message.ByteSizeLong(), kClientSendLimit));
  ExpectPaths(0, 1);
}

TEST_P(MessageSizeTest, ServerEndsStreamWithMessageOverItsReceiveLimit) {
  ClientContext context;
  SetHangDeadline(&context);
  StreamSummary summary;
  auto writer = stub_->ClientStream(&context, &summary);
  StreamMessage message = NumberedMessage(0, kServerReceiveLimit + 1000);
  // Whether the write itself reports the failure depends on when it is seen; the status does not.
  writer->Write(message);
  Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            TooLarge("Received", message.ByteSizeLong(), kServerReceiveLimit));
  ExpectPaths(0, 1);
}

// The first message goes with the corked initial metadata, in the call's first batch.
TEST_P(MessageSizeTest, ServerEndsCorkedStreamWithFirstMessageOverItsReceiveLimit) {
  ClientContext context;
  SetHangDeadline(&context);
  context.set_initial_metadata_corked(true);
  StreamSummary summary;
  auto writer = stub_->ClientStream(&context, &summary);
  StreamMessage message = NumberedMessage(0, kServerReceiveLimit + 1000);
  writer->Write(message);
  Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            TooLarge("Received", message.ByteSizeLong(), kServerReceiveLimit));
  ExpectPaths(0, 1);
}

TEST_P(MessageSizeTest, ServerDoesNotSendStreamMessageOverItsSendLimit) {
  StreamRequest request;
  request.set_message_count(1);
  request.set_message_size(kServerSendLimit + 1000);
  ClientContext context;
  SetHangDeadline(&context);
  auto reader = stub_->ServerStream(&context, request);
  StreamMessage message;
  EXPECT_FALSE(reader->Read(&message));
  Status status = reader->Finish();
  ExpectOverLimit(status, "Sent", kServerSendLimit);
  ExpectPaths(0, 1);
}

TEST_P(DefaultMessageSizeTest, ClientRefusesResponseOverTheDefaultReceiveLimit) {
  EchoRequest request;
  request.set_response_bytes(kDefaultReceiveLimit + 1000);
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  Status status = stub_->Echo(&context, request, &response);
  ExpectOverLimit(status, "Received", kDefaultReceiveLimit);
  EXPECT_TRUE(response.payload().empty());
  ExpectPaths(1);
}

TEST_P(DefaultMessageSizeTest, ClientRefusesStreamMessageOverTheDefaultReceiveLimit) {
  StreamRequest request;
  request.set_message_count(1);
  request.set_message_size(kDefaultReceiveLimit + 1000);
  ClientContext context;
  SetHangDeadline(&context);
  auto reader = stub_->ServerStream(&context, request);
  StreamMessage message;
  EXPECT_FALSE(reader->Read(&message));
  Status status = reader->Finish();
  ExpectOverLimit(status, "Received", kDefaultReceiveLimit);
  ExpectPaths(0, 1);
}

}  // namespace
}  // namespace notnets::test
