// Streaming calls of the gRPC behaviour suite, with the sync and callback client APIs. A sync
// server's streaming methods stay on HTTP/2 even when it serves over the pool: in that variant
// these tests check the calls did go over HTTP/2.
#include <string>
#include <thread>

#include "grpc_path_test.h"

namespace notnets::test {
namespace {

using ::grpc::ClientContext;
using ::grpc::Status;
using ::grpc::StatusCode;

class StreamingTest : public GrpcPathTest {};

INSTANTIATE_TEST_SUITE_P(Variants, StreamingTest, ::testing::ValuesIn(AllVariants()), VariantName);

bool IsNumbered(const StreamMessage& message, uint32_t sequence, uint32_t size) {
  return message.sequence() == sequence && message.payload() == Pattern(size, sequence);
}

// Reads a server stream to its end and returns how many of the messages, which should be of
// `size` bytes, arrived in order before the first that did not; sleeps `pause` after each of the
// first `slow_reads` reads.
uint32_t ReadNumbered(::grpc::ClientReader<StreamMessage>* reader, uint32_t size,
                      int slow_reads = 0,
                      std::chrono::milliseconds pause = std::chrono::milliseconds(0)) {
  uint32_t received = 0;
  uint32_t in_order = 0;
  StreamMessage message;
  while (reader->Read(&message)) {
    if (in_order == received && IsNumbered(message, received, size)) ++in_order;
    ++received;
    if (slow_reads-- > 0) std::this_thread::sleep_for(pause);
  }
  return in_order;
}

TEST_P(StreamingTest, ServerStream) {
  StreamRequest request;
  request.set_message_count(1000);
  request.set_message_size(64);
  ClientContext context;
  SetHangDeadline(&context);
  auto reader = stub_->ServerStream(&context, request);
  EXPECT_EQ(ReadNumbered(reader.get(), 64), 1000u);
  Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  ExpectPeer(context, StreamingOverPool());
  ExpectPaths(0, 1);
}

TEST_P(StreamingTest, ServerStreamEndsWithError) {
  StreamRequest request;
  request.set_message_count(10);
  request.set_message_size(100);
  request.set_status_code(static_cast<int>(StatusCode::ABORTED));
  request.set_status_message("stopped after 10 messages");
  ClientContext context;
  SetHangDeadline(&context);
  auto reader = stub_->ServerStream(&context, request);
  EXPECT_EQ(ReadNumbered(reader.get(), 100), 10u);
  Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::ABORTED);
  EXPECT_EQ(status.error_message(), "stopped after 10 messages");
  ExpectPaths(0, 1);
}

std::string LastWriteName(LastWrite last) {
  return last == LAST_WRITE_WRITE_LAST ? "WriteLast" : "with the status";
}

// The last message goes with the status (test_service.proto, LastWrite). The bridge into a
// sync, completion-queue or mixed server (docs/grpc.md, "Bridged calls") once lost it when the
// server wrote a message before it: the client saw OK after the others, and a sync handler never
// returned.
TEST_P(StreamingTest, ServerStreamLastMessageWithStatus) {
  uint64_t calls = 0;
  for (LastWrite last : {LAST_WRITE_WRITE_LAST, LAST_WRITE_WITH_STATUS}) {
    for (uint32_t count : {1u, 2u, 5u}) {
      SCOPED_TRACE(LastWriteName(last) + ", " + std::to_string(count) + " messages");
      StreamRequest request;
      request.set_message_count(count);
      request.set_message_size(32);
      request.set_last_write(last);
      ClientContext context;
      SetHangDeadline(&context);
      auto reader = stub_->ServerStream(&context, request);
      EXPECT_EQ(ReadNumbered(reader.get(), 32), count);
      Status status = reader->Finish();
      EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
      ++calls;
    }
  }
  ExpectPaths(0, calls);
}

TEST_P(StreamingTest, SlowReaderGetsEverything) {
  // The server writes far more than fits in flight while the client is slow: flow control has
  // to hold the writer back without losing or reordering anything.
  StreamRequest request;
  request.set_message_count(500);
  request.set_message_size(1024);
  ClientContext context;
  SetHangDeadline(&context);
  auto reader = stub_->ServerStream(&context, request);
  EXPECT_EQ(ReadNumbered(reader.get(), 1024, 50, std::chrono::milliseconds(1)), 500u);
  Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  ExpectPaths(0, 1);
}

TEST_P(StreamingTest, CancelWhileTheServerWritesAhead) {
  // Over the pool the reader has the next messages asked for while it reads (docs/grpc.md,
  // "Streams"): a cancellation must still end the stream, and nothing read before it may be
  // lost or reordered.
  constexpr uint32_t kRead = 100;
  StreamRequest request;
  request.set_message_count(100000);
  request.set_message_size(16);
  ClientContext context;
  SetHangDeadline(&context);
  auto reader = stub_->ServerStream(&context, request);
  StreamMessage message;
  uint32_t in_order = 0;
  while (in_order < kRead && reader->Read(&message) && IsNumbered(message, in_order, 16)) {
    ++in_order;
  }
  EXPECT_EQ(in_order, kRead);
  context.TryCancel();
  while (reader->Read(&message)) {
  }
  Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::CANCELLED) << status.error_message();
}

TEST_P(StreamingTest, ClientStream) {
  constexpr uint32_t kMessages = 1000;
  StreamSummary summary;
  ClientContext context;
  SetHangDeadline(&context);
  auto writer = stub_->ClientStream(&context, &summary);
  uint64_t total_bytes = 0;
  for (uint32_t i = 0; i < kMessages; ++i) {
    StreamMessage message = NumberedMessage(i, i % 200);
    total_bytes += message.payload().size();
    if (!writer->Write(message)) break;
  }
  EXPECT_TRUE(writer->WritesDone());
  Status status = writer->Finish();
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(summary.message_count(), kMessages);
  EXPECT_EQ(summary.total_bytes(), total_bytes);
  EXPECT_TRUE(summary.in_order());
  ExpectPeer(context, StreamingOverPool());
  ExpectPaths(0, 1);
}

// The last message and the half-close in one batch: over the pool the half-close goes once the
// server took the message, so that a server with several workers cannot take it first.
TEST_P(StreamingTest, ClientStreamWriteLast) {
  constexpr uint32_t kMessages = 3;
  StreamSummary summary;
  ClientContext context;
  SetHangDeadline(&context);
  auto writer = stub_->ClientStream(&context, &summary);
  for (uint32_t i = 0; i + 1 < kMessages; ++i) EXPECT_TRUE(writer->Write(NumberedMessage(i, 10)));
  writer->WriteLast(NumberedMessage(kMessages - 1, 10), ::grpc::WriteOptions());
  Status status = writer->Finish();
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(summary.message_count(), kMessages);
  EXPECT_TRUE(summary.in_order());
  ExpectPeer(context, StreamingOverPool());
  ExpectPaths(0, 1);
}

TEST_P(StreamingTest, BidiPingPong) {
  constexpr uint32_t kMessages = 1000;
  ClientContext context;
  SetHangDeadline(&context);
  auto stream = stub_->Bidi(&context);
  uint32_t echoed = 0;
  StreamMessage reply;
  for (uint32_t i = 0; i < kMessages; ++i) {
    if (!stream->Write(NumberedMessage(i, 32)) || !stream->Read(&reply)) break;
    if (!IsNumbered(reply, i, 32)) break;
    ++echoed;
  }
  EXPECT_EQ(echoed, kMessages);
  EXPECT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&reply)) << "a reply nothing was sent for";
  Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  ExpectPeer(context, StreamingOverPool());
  ExpectPaths(0, 1);
}

// A first message corked with the initial metadata completes its write before the server took
// it; the half-close right after it must still reach the server after the message. Many times,
// as the two once raced on a server with several workers (the message was lost, status OK).
TEST_P(StreamingTest, BidiCorkedFirstMessageThenHalfCloseIsAnswered) {
  constexpr int kStreams = 50;
  int answered = 0;
  for (int i = 0; i < kStreams; ++i) {
    ClientContext context;
    SetHangDeadline(&context);
    context.set_initial_metadata_corked(true);
    auto stream = stub_->Bidi(&context);
    stream->Write(NumberedMessage(0, 32));
    stream->WritesDone();
    StreamMessage reply;
    bool echoed = stream->Read(&reply) && IsNumbered(reply, 0, 32);
    while (stream->Read(&reply)) {
    }
    Status status = stream->Finish();
    ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
    if (echoed) ++answered;
  }
  EXPECT_EQ(answered, kStreams);
  ExpectPaths(0, kStreams);
}

// A server that answers the client's last message after the half-close, twice, the second time
// with the status.
TEST_P(StreamingTest, BidiLastAnswerWithStatus) {
  constexpr uint32_t kMessages = 3;
  for (LastWrite last : {LAST_WRITE_WRITE_LAST, LAST_WRITE_WITH_STATUS}) {
    SCOPED_TRACE(LastWriteName(last));
    ClientContext context;
    SetHangDeadline(&context);
    auto stream = stub_->Bidi(&context);
    StreamMessage reply;
    uint32_t echoed = 0;
    for (uint32_t i = 0; i + 1 < kMessages; ++i) {
      if (!stream->Write(NumberedMessage(i, 32)) || !stream->Read(&reply) ||
          !IsNumbered(reply, i, 32)) {
        break;
      }
      ++echoed;
    }
    EXPECT_EQ(echoed, kMessages - 1);
    StreamMessage end = NumberedMessage(kMessages - 1, 32);
    end.set_end_with(last);
    EXPECT_TRUE(stream->Write(end));
    EXPECT_TRUE(stream->WritesDone());
    for (int copy = 0; copy < 2; ++copy) {
      ASSERT_TRUE(stream->Read(&reply)) << "answer " << copy << " is lost";
      EXPECT_TRUE(IsNumbered(reply, kMessages - 1, 32));
    }
    EXPECT_FALSE(stream->Read(&reply)) << "a reply nothing was sent for";
    Status status = stream->Finish();
    EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  }
  ExpectPaths(0, 2);
}

TEST_P(StreamingTest, BidiWritesEverythingBeforeReading) {
  // All the replies wait in flight until the client reads; small enough to fit in HTTP/2's
  // initial flow-control windows, so a path that drops or blocks on them is at fault.
  constexpr uint32_t kMessages = 200;
  ClientContext context;
  SetHangDeadline(&context);
  auto stream = stub_->Bidi(&context);
  uint32_t written = 0;
  while (written < kMessages && stream->Write(NumberedMessage(written, 64))) ++written;
  EXPECT_EQ(written, kMessages);
  EXPECT_TRUE(stream->WritesDone());
  uint32_t received = 0;
  uint32_t in_order = 0;
  StreamMessage reply;
  while (stream->Read(&reply)) {
    if (in_order == received && IsNumbered(reply, received, 64)) ++in_order;
    ++received;
  }
  EXPECT_EQ(in_order, kMessages);
  EXPECT_EQ(received, kMessages);
  Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  ExpectPaths(0, 1);
}

// A callback handler that returns no reactor ends its call with UNIMPLEMENTED and no message, as
// gRPC does; the sync server's methods of the same name are not overridden, which gives the same.
TEST_P(StreamingTest, NullReactorServerStreamIsUnimplemented) {
  ClientContext context;
  SetHangDeadline(&context);
  auto reader = stub_->NullReactorServerStream(&context, StreamRequest());
  StreamMessage message;
  EXPECT_FALSE(reader->Read(&message)) << "a message from a call that has no reactor";
  Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::UNIMPLEMENTED) << status.error_message();
  EXPECT_EQ(status.error_message(), "");
  ExpectPaths(0, 1);
}

TEST_P(StreamingTest, NullReactorClientStreamIsUnimplemented) {
  StreamSummary summary;
  ClientContext context;
  SetHangDeadline(&context);
  auto writer = stub_->NullReactorClientStream(&context, &summary);
  // Whether the write and half-close are taken before the call's end reaches the client depends
  // on timing, on either path: only the end is compared.
  writer->Write(NumberedMessage(0, 16));
  writer->WritesDone();
  Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::UNIMPLEMENTED) << status.error_message();
  EXPECT_EQ(status.error_message(), "");
  EXPECT_EQ(summary.message_count(), 0u) << "a response from a call that has no reactor";
  ExpectPaths(0, 1);
}

TEST_P(StreamingTest, NullReactorBidiIsUnimplemented) {
  ClientContext context;
  SetHangDeadline(&context);
  auto stream = stub_->NullReactorBidi(&context);
  // As in the client stream above, the write may or may not be taken.
  stream->Write(NumberedMessage(0, 16));
  StreamMessage reply;
  EXPECT_FALSE(stream->Read(&reply)) << "a message from a call that has no reactor";
  stream->WritesDone();
  Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::UNIMPLEMENTED) << status.error_message();
  EXPECT_EQ(status.error_message(), "");
  ExpectPaths(0, 1);
}

// Server stream read with the callback client API: one read in flight, the next started from
// OnReadDone.
class NumberedReader final : public ::grpc::ClientReadReactor<StreamMessage> {
 public:
  NumberedReader(TestService::Stub* stub, const StreamRequest& request) : request_(request) {
    SetHangDeadline(&context_);
    stub->async()->ServerStream(&context_, &request_, this);
    StartRead(&message_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (!IsNumbered(message_, in_order_, request_.message_size())) {
      context_.TryCancel();
      return;
    }
    ++in_order_;
    StartRead(&message_);
  }
  void OnDone(const Status& status) override { done_.Set(status); }

  Status Wait() { return done_.Wait(); }
  uint32_t in_order() const { return in_order_; }

 private:
  const StreamRequest request_;
  ClientContext context_;
  StreamMessage message_;
  uint32_t in_order_ = 0;
  CallDone done_;
};

TEST_P(StreamingTest, ServerStreamWithCallbackClient) {
  StreamRequest request;
  request.set_message_count(1000);
  request.set_message_size(64);
  NumberedReader reader(stub_.get(), request);
  Status status = reader.Wait();
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(reader.in_order(), 1000u);
  ExpectPaths(0, 1);
}

// Client stream written with the callback client API, with metadata and a deadline (and, when
// `corked`, the initial metadata held back to go with the first write).
class NumberedWriter final : public ::grpc::ClientWriteReactor<StreamMessage> {
 public:
  NumberedWriter(TestService::Stub* stub, uint32_t count, bool corked = false) : count_(count) {
    SetHangDeadline(&context_);
    context_.AddMetadata("x-test-api", "callback");
    context_.set_initial_metadata_corked(corked);
    stub->async()->ClientStream(&context_, &summary_, this);
    WriteNext();
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    if (ok) WriteNext();
  }
  void OnDone(const Status& status) override { done_.Set(status); }

  Status Wait() { return done_.Wait(); }
  const StreamSummary& summary() const { return summary_; }
  uint64_t bytes_written() const { return bytes_written_; }
  const ClientContext& context() const { return context_; }

 private:
  void WriteNext() {
    if (written_ == count_) {
      StartWritesDone();
      return;
    }
    message_ = NumberedMessage(written_, written_ % 200);
    bytes_written_ += message_.payload().size();
    ++written_;
    StartWrite(&message_);
  }

  const uint32_t count_;
  ClientContext context_;
  StreamSummary summary_;
  StreamMessage message_;
  uint32_t written_ = 0;
  uint64_t bytes_written_ = 0;
  CallDone done_;
};

// The metadata the stream handlers send back for NumberedWriter's and PingPong's.
const MetadataList kCallbackEchoed = {{"x-test-api", "callback"}};
const MetadataList kCallbackTrailers = {{"x-deadline", "set"}, {"x-test-api", "callback"}};

TEST_P(StreamingTest, ClientStreamWithCallbackClient) {
  NumberedWriter writer(stub_.get(), 1000);
  Status status = writer.Wait();
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(writer.summary().message_count(), 1000u);
  EXPECT_EQ(writer.summary().total_bytes(), writer.bytes_written());
  EXPECT_TRUE(writer.summary().in_order());
  EXPECT_EQ(UserMetadata(writer.context().GetServerInitialMetadata()), kCallbackEchoed);
  EXPECT_EQ(UserMetadata(writer.context().GetServerTrailingMetadata()), kCallbackTrailers);
  ExpectPeer(writer.context(), StreamingOverPool());
  ExpectPaths(0, 1);
}

TEST_P(StreamingTest, ClientStreamWithCallbackClientCorked) {
  NumberedWriter writer(stub_.get(), 300, /*corked=*/true);
  Status status = writer.Wait();
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(writer.summary().message_count(), 300u);
  EXPECT_TRUE(writer.summary().in_order());
  EXPECT_EQ(UserMetadata(writer.context().GetServerTrailingMetadata()), kCallbackTrailers);
  ExpectPaths(0, 1);
}

// Bidi ping-pong with the callback client API: each message is written once the previous reply
// has arrived.
class PingPong final : public ::grpc::ClientBidiReactor<StreamMessage, StreamMessage> {
 public:
  PingPong(TestService::Stub* stub, uint32_t count) : count_(count) {
    SetHangDeadline(&context_);
    context_.AddMetadata("x-test-api", "callback");
    stub->async()->Bidi(&context_, this);
    WriteNext();
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    if (ok) StartRead(&reply_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (!IsNumbered(reply_, echoed_, 48)) {
      context_.TryCancel();
      return;
    }
    ++echoed_;
    WriteNext();
  }
  void OnDone(const Status& status) override { done_.Set(status); }

  Status Wait() { return done_.Wait(); }
  uint32_t echoed() const { return echoed_; }
  const ClientContext& context() const { return context_; }

 private:
  void WriteNext() {
    if (echoed_ == count_) {
      StartWritesDone();
      return;
    }
    message_ = NumberedMessage(echoed_, 48);
    StartWrite(&message_);
  }

  const uint32_t count_;
  ClientContext context_;
  StreamMessage message_;
  StreamMessage reply_;
  uint32_t echoed_ = 0;
  CallDone done_;
};

TEST_P(StreamingTest, BidiWithCallbackClient) {
  PingPong ping_pong(stub_.get(), 1000);
  Status status = ping_pong.Wait();
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(ping_pong.echoed(), 1000u);
  EXPECT_EQ(UserMetadata(ping_pong.context().GetServerInitialMetadata()), kCallbackEchoed);
  EXPECT_EQ(UserMetadata(ping_pong.context().GetServerTrailingMetadata()), kCallbackTrailers);
  ExpectPeer(ping_pong.context(), StreamingOverPool());
  ExpectPaths(0, 1);
}

}  // namespace
}  // namespace notnets::test
