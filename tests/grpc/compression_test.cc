// Compression settings: a client that asks for a compression algorithm and a server with a default
// one get the same results on both paths. Over the pool nothing is compressed (messages do not
// cross a network), so the settings are accepted and have no effect.
#include "grpc_path_test.h"

namespace notnets::test {
namespace {

using ::grpc::ClientContext;
using ::grpc::Status;

// Large and repetitive, so that gzip has something to do over HTTP/2.
constexpr uint32_t kPayloadBytes = 100 * 1024;

class CompressionTest : public GrpcPathTest {
 protected:
  void ConfigureServer(::grpc::ServerBuilder* builder) override {
    builder->SetDefaultCompressionAlgorithm(GRPC_COMPRESS_GZIP);
  }
};

INSTANTIATE_TEST_SUITE_P(Variants, CompressionTest, ::testing::ValuesIn(AllVariants()),
                         VariantName);

TEST_P(CompressionTest, Unary) {
  EchoRequest request;
  request.set_payload(Pattern(kPayloadBytes));
  request.set_echo_metadata(true);
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  context.AddMetadata("x-test-key", "value");
  Status status = stub_->Echo(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.payload() == request.payload());
  EXPECT_EQ(UserMetadata(context.GetServerInitialMetadata()),
            (MetadataList{{"x-test-key", "value"}}));
  ExpectPeer(context, UnaryOverPool());
  ExpectPaths(1);
}

TEST_P(CompressionTest, ServerStream) {
  StreamRequest request;
  request.set_message_count(10);
  request.set_message_size(kPayloadBytes);
  ClientContext context;
  SetHangDeadline(&context);
  context.set_compression_algorithm(GRPC_COMPRESS_DEFLATE);
  auto reader = stub_->ServerStream(&context, request);
  uint32_t received = 0;
  StreamMessage message;
  while (reader->Read(&message)) {
    EXPECT_TRUE(message.payload() == Pattern(kPayloadBytes, received));
    ++received;
  }
  EXPECT_EQ(received, 10u);
  Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  ExpectPaths(0, 1);
}

TEST_P(CompressionTest, ClientStream) {
  ClientContext context;
  SetHangDeadline(&context);
  context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  StreamSummary summary;
  auto writer = stub_->ClientStream(&context, &summary);
  for (uint32_t i = 0; i < 10; ++i) EXPECT_TRUE(writer->Write(NumberedMessage(i, kPayloadBytes)));
  EXPECT_TRUE(writer->WritesDone());
  Status status = writer->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(summary.message_count(), 10u);
  EXPECT_TRUE(summary.in_order());
  ExpectPaths(0, 1);
}

}  // namespace
}  // namespace notnets::test
