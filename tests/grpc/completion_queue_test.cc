// Calls of every method kind with the completion-queue client API (PrepareAsync/Async stubs), each
// with metadata and a deadline: the same results through the pool as over HTTP/2. A
// completion-queue stream reuses one batch for its start, its writes and its half-close, which is
// what these tests exercise beyond the sync and callback APIs.
#include <cstdint>

#include "grpc_path_test.h"

namespace notnets::test {
namespace {

using ::grpc::ClientContext;
using ::grpc::CompletionQueue;
using ::grpc::Status;
using ::grpc::StatusCode;

class CompletionQueueTest : public GrpcPathTest {
 protected:
  // Waits for the next event, which must be `tag`, and returns its `ok`. Waits longer than
  // SetHangDeadline gives a call, so a hang shows up as that call's DEADLINE_EXCEEDED.
  bool Next(int tag) {
    void* got = nullptr;
    bool ok = false;
    auto result = cq_.AsyncNext(&got, &ok, std::chrono::system_clock::now() + kEventBound);
    EXPECT_EQ(result, CompletionQueue::GOT_EVENT) << "no event for tag " << tag;
    EXPECT_EQ(got, Tag(tag));
    return result == CompletionQueue::GOT_EVENT && ok;
  }

  static void* Tag(int tag) { return reinterpret_cast<void*>(static_cast<intptr_t>(tag)); }

  // Metadata and a deadline on `context`, and what the server sends back for them (the
  // test service echoes "x-test-" entries and, on streams, says whether it saw a deadline).
  static void AddMetadataAndDeadline(ClientContext* context) {
    context->AddMetadata("x-test-name", "completion queue");
    context->AddMetadata("x-test-data-bin", std::string("\0\xff", 2));
    SetHangDeadline(context);
  }
  static MetadataList EchoedMetadata() {
    return {{"x-test-data-bin", std::string("\0\xff", 2)}, {"x-test-name", "completion queue"}};
  }
  static MetadataList StreamTrailers() {
    MetadataList trailers = EchoedMetadata();
    trailers.insert(trailers.begin(), {"x-deadline", "set"});
    return trailers;
  }

  void TearDown() override {
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) ADD_FAILURE() << "an event nothing waited for";
    GrpcPathTest::TearDown();
  }

  // Writes `count` numbered messages on a client stream, then checks what the server counted.
  void ClientStream(uint32_t count);

  static constexpr std::chrono::seconds kEventBound{60};
  CompletionQueue cq_;
};

INSTANTIATE_TEST_SUITE_P(Variants, CompletionQueueTest, ::testing::ValuesIn(AllVariants()),
                         VariantName);

bool IsNumbered(const StreamMessage& message, uint32_t sequence, uint32_t size) {
  return message.sequence() == sequence && message.payload() == Pattern(size, sequence);
}

TEST_P(CompletionQueueTest, UnaryReadingInitialMetadataFirst) {
  EchoRequest request;
  request.set_payload("over a completion queue");
  request.set_echo_metadata(true);
  EchoResponse response;
  Status status;
  ClientContext context;
  AddMetadataAndDeadline(&context);
  auto call = stub_->PrepareAsyncEcho(&context, request, &cq_);
  call->StartCall();
  call->ReadInitialMetadata(Tag(1));
  EXPECT_TRUE(Next(1));
  EXPECT_EQ(UserMetadata(context.GetServerInitialMetadata()), EchoedMetadata());
  call->Finish(&response, &status, Tag(2));
  EXPECT_TRUE(Next(2));
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(response.payload(), request.payload());
  EXPECT_GT(response.deadline_remaining_ms(), 0);
  EXPECT_EQ(UserMetadata(context.GetServerTrailingMetadata()), EchoedMetadata());
  ExpectPeer(context, UnaryOverPool());
  ExpectPaths(1);
}

TEST_P(CompletionQueueTest, ServerStream) {
  constexpr uint32_t kMessages = 300;
  StreamRequest request;
  request.set_message_count(kMessages);
  request.set_message_size(40);
  ClientContext context;
  AddMetadataAndDeadline(&context);
  auto reader = stub_->PrepareAsyncServerStream(&context, request, &cq_);
  reader->StartCall(Tag(1));
  EXPECT_TRUE(Next(1));
  reader->ReadInitialMetadata(Tag(2));
  EXPECT_TRUE(Next(2));
  EXPECT_EQ(UserMetadata(context.GetServerInitialMetadata()), EchoedMetadata());
  uint32_t in_order = 0;
  StreamMessage message;
  for (;;) {
    reader->Read(&message, Tag(3));
    if (!Next(3)) break;
    if (IsNumbered(message, in_order, 40)) ++in_order;
  }
  EXPECT_EQ(in_order, kMessages);
  Status status;
  reader->Finish(&status, Tag(4));
  EXPECT_TRUE(Next(4));
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(UserMetadata(context.GetServerTrailingMetadata()), StreamTrailers());
  ExpectPeer(context, StreamingOverPool());
  ExpectPaths(0, 1);
}

void CompletionQueueTest::ClientStream(uint32_t count) {
  StreamSummary summary;
  ClientContext context;
  AddMetadataAndDeadline(&context);
  auto writer = stub_->PrepareAsyncClientStream(&context, &summary, &cq_);
  writer->StartCall(Tag(1));
  ASSERT_TRUE(Next(1));
  uint64_t total_bytes = 0;
  uint32_t written = 0;
  for (; written < count; ++written) {
    StreamMessage message = NumberedMessage(written, written % 200);
    writer->Write(message, Tag(2));
    if (!Next(2)) break;
    total_bytes += message.payload().size();
  }
  EXPECT_EQ(written, count) << "writes that completed";
  writer->WritesDone(Tag(3));
  EXPECT_TRUE(Next(3));
  Status status;
  writer->Finish(&status, Tag(4));
  EXPECT_TRUE(Next(4));
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(summary.message_count(), count) << "messages the server received";
  EXPECT_EQ(summary.total_bytes(), total_bytes);
  EXPECT_TRUE(summary.in_order());
  EXPECT_EQ(UserMetadata(context.GetServerInitialMetadata()), EchoedMetadata());
  EXPECT_EQ(UserMetadata(context.GetServerTrailingMetadata()), StreamTrailers());
  ExpectPeer(context, StreamingOverPool());
  ExpectPaths(0, 1);
}

TEST_P(CompletionQueueTest, ClientStreamOneWrite) { ClientStream(1); }
// One call slot short of the channel's 128, and at them: a path that spends a slot per write
// runs out here.
TEST_P(CompletionQueueTest, ClientStream126Writes) { ClientStream(126); }
TEST_P(CompletionQueueTest, ClientStream127Writes) { ClientStream(127); }
TEST_P(CompletionQueueTest, ClientStream1000Writes) { ClientStream(1000); }

TEST_P(CompletionQueueTest, ClientStreamStartedByTheStub) {
  StreamSummary summary;
  ClientContext context;
  AddMetadataAndDeadline(&context);
  auto writer = stub_->AsyncClientStream(&context, &summary, &cq_, Tag(1));
  ASSERT_TRUE(Next(1));
  writer->Write(NumberedMessage(0, 10), Tag(2));
  EXPECT_TRUE(Next(2));
  writer->WritesDone(Tag(3));
  EXPECT_TRUE(Next(3));
  Status status;
  writer->Finish(&status, Tag(4));
  EXPECT_TRUE(Next(4));
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(summary.message_count(), 1u);
  ExpectPaths(0, 1);
}

TEST_P(CompletionQueueTest, BidiOneMessage) {
  ClientContext context;
  AddMetadataAndDeadline(&context);
  auto stream = stub_->PrepareAsyncBidi(&context, &cq_);
  stream->StartCall(Tag(1));
  ASSERT_TRUE(Next(1));
  stream->Write(NumberedMessage(0, 30), Tag(2));
  EXPECT_TRUE(Next(2));
  StreamMessage reply;
  stream->Read(&reply, Tag(3));
  EXPECT_TRUE(Next(3));
  EXPECT_TRUE(IsNumbered(reply, 0, 30));
  stream->WritesDone(Tag(4));
  EXPECT_TRUE(Next(4));
  stream->Read(&reply, Tag(5));
  EXPECT_FALSE(Next(5)) << "a reply nothing was sent for";
  Status status;
  stream->Finish(&status, Tag(6));
  EXPECT_TRUE(Next(6));
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(UserMetadata(context.GetServerInitialMetadata()), EchoedMetadata());
  EXPECT_EQ(UserMetadata(context.GetServerTrailingMetadata()), StreamTrailers());
  ExpectPeer(context, StreamingOverPool());
  ExpectPaths(0, 1);
}

// Initial metadata corked: they go with the first write, and StartCall completes nothing.
TEST_P(CompletionQueueTest, ClientStreamWithCorkedMetadata) {
  StreamSummary summary;
  ClientContext context;
  AddMetadataAndDeadline(&context);
  context.set_initial_metadata_corked(true);
  auto writer = stub_->PrepareAsyncClientStream(&context, &summary, &cq_);
  writer->StartCall(Tag(1));
  for (uint32_t i = 0; i < 3; ++i) {
    writer->Write(NumberedMessage(i, 10), Tag(2));
    EXPECT_TRUE(Next(2)) << "write " << i;
  }
  writer->WritesDone(Tag(3));
  EXPECT_TRUE(Next(3));
  Status status;
  writer->Finish(&status, Tag(4));
  EXPECT_TRUE(Next(4));
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(summary.message_count(), 3u);
  EXPECT_TRUE(summary.in_order());
  EXPECT_EQ(UserMetadata(context.GetServerTrailingMetadata()), StreamTrailers());
  ExpectPaths(0, 1);
}

// Each message written once the previous reply has arrived.
TEST_P(CompletionQueueTest, BidiPingPong) {
  constexpr uint32_t kMessages = 500;
  ClientContext context;
  AddMetadataAndDeadline(&context);
  auto stream = stub_->AsyncBidi(&context, &cq_, Tag(1));
  ASSERT_TRUE(Next(1));
  uint32_t echoed = 0;
  StreamMessage reply;
  for (uint32_t i = 0; i < kMessages; ++i) {
    stream->Write(NumberedMessage(i, 50), Tag(2));
    if (!Next(2)) break;
    stream->Read(&reply, Tag(3));
    if (!Next(3) || !IsNumbered(reply, i, 50)) break;
    ++echoed;
  }
  EXPECT_EQ(echoed, kMessages);
  stream->WritesDone(Tag(4));
  EXPECT_TRUE(Next(4));
  Status status;
  stream->Finish(&status, Tag(5));
  EXPECT_TRUE(Next(5));
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(UserMetadata(context.GetServerTrailingMetadata()), StreamTrailers());
  ExpectPaths(0, 1);
}

// A read and a write in flight at once, as completion-queue programs do: the replies to
// everything written arrive, in order, while the next writes go out.
TEST_P(CompletionQueueTest, BidiReadAndWriteInFlightTogether) {
  constexpr uint32_t kMessages = 200;
  ClientContext context;
  AddMetadataAndDeadline(&context);
  auto stream = stub_->AsyncBidi(&context, &cq_, Tag(1));
  ASSERT_TRUE(Next(1));
  uint32_t written = 0;
  uint32_t received = 0;
  bool writing = false;
  bool reading = false;
  bool half_closed = false;
  StreamMessage reply;
  StreamMessage message;
  auto start_write = [&] {
    if (written == kMessages) {
      stream->WritesDone(Tag(3));
      half_closed = true;
    } else {
      message = NumberedMessage(written, 20);
      stream->Write(message, Tag(2));
    }
    writing = true;
  };
  start_write();
  stream->Read(&reply, Tag(4));
  reading = true;
  while (writing || reading) {
    void* tag;
    bool ok;
    ASSERT_EQ(cq_.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + kEventBound),
              CompletionQueue::GOT_EVENT);
    if (tag == Tag(2)) {
      ASSERT_TRUE(ok) << "write " << written;
      ++written;
      start_write();
    } else if (tag == Tag(3)) {
      EXPECT_TRUE(ok);
      writing = false;
    } else {
      ASSERT_EQ(tag, Tag(4));
      reading = ok;
      if (!ok) continue;
      EXPECT_TRUE(IsNumbered(reply, received, 20)) << "reply " << received;
      ++received;
      stream->Read(&reply, Tag(4));
    }
  }
  EXPECT_TRUE(half_closed);
  EXPECT_EQ(received, kMessages);
  Status status;
  stream->Finish(&status, Tag(5));
  EXPECT_TRUE(Next(5));
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  ExpectPaths(0, 1);
}

}  // namespace
}  // namespace notnets::test
