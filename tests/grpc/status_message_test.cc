// The statuses a client gets when its deadline passes or it cancels, with every client API and
// method kind: gRPC's codes and gRPC's own messages ("Deadline Exceeded", "CANCELLED"), which
// programs compare, on both paths.
#include <thread>

#include "grpc_path_test.h"

namespace notnets::test {
namespace {

using ::grpc::ClientContext;
using ::grpc::CompletionQueue;
using ::grpc::Status;
using ::grpc::StatusCode;

constexpr char kDeadlineMessage[] = "Deadline Exceeded";
// gRPC 1.51 writes the code's name for a cancellation.
constexpr char kCancelledMessage[] = "CANCELLED";

class StatusMessageTest : public GrpcPathTest {
 protected:
  static void SetShortDeadline(ClientContext* context) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  }
};

INSTANTIATE_TEST_SUITE_P(Variants, StatusMessageTest, ::testing::ValuesIn(AllVariants()),
                         VariantName);

TEST_P(StatusMessageTest, UnaryDeadline) {
  EchoRequest request;
  request.set_wait_for_cancel(true);
  EchoResponse response;
  ClientContext context;
  SetShortDeadline(&context);
  Status status = stub_->Echo(&context, request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(status.error_message(), kDeadlineMessage);
  ExpectPaths(1);
}

TEST_P(StatusMessageTest, UnaryCancelled) {
  EchoRequest request;
  request.set_wait_for_cancel(true);
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  Status status;
  std::thread caller([&] { status = stub_->Echo(&context, request, &response); });
  bool waiting = Eventually([this] { return observations_.calls_waiting == 1; });
  context.TryCancel();
  caller.join();
  ASSERT_TRUE(waiting) << "the handler never ran";
  EXPECT_EQ(status.error_code(), StatusCode::CANCELLED);
  EXPECT_EQ(status.error_message(), kCancelledMessage);
  ExpectPaths(1);
}

// A bidi stream whose server waits for a message that never comes.
TEST_P(StatusMessageTest, SyncStreamDeadline) {
  ClientContext context;
  SetShortDeadline(&context);
  auto stream = stub_->Bidi(&context);
  StreamMessage reply;
  EXPECT_FALSE(stream->Read(&reply));
  Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(status.error_message(), kDeadlineMessage);
  ExpectPaths(0, 1);
}

TEST_P(StatusMessageTest, CompletionQueueStreamDeadline) {
  CompletionQueue cq;
  ClientContext context;
  SetShortDeadline(&context);
  StreamSummary summary;
  auto writer = stub_->AsyncClientStream(&context, &summary, &cq, nullptr);
  void* tag;
  bool ok;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  Status status;
  // No half-close: the server waits for more until the deadline.
  writer->Finish(&status, &status);
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(tag, &status);
  EXPECT_EQ(status.error_code(), StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(status.error_message(), kDeadlineMessage);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) ADD_FAILURE() << "an event nothing waited for";
  ExpectPaths(0, 1);
}

TEST_P(StatusMessageTest, CompletionQueueStreamCancelled) {
  CompletionQueue cq;
  ClientContext context;
  SetHangDeadline(&context);
  auto stream = stub_->AsyncBidi(&context, &cq, nullptr);
  void* tag;
  bool ok;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  StreamMessage reply;
  stream->Read(&reply, &reply);
  context.TryCancel();
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(tag, &reply);
  EXPECT_FALSE(ok) << "a read of a cancelled stream";
  Status status;
  stream->Finish(&status, &status);
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(tag, &status);
  EXPECT_EQ(status.error_code(), StatusCode::CANCELLED);
  EXPECT_EQ(status.error_message(), kCancelledMessage);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) ADD_FAILURE() << "an event nothing waited for";
  ExpectPaths(0, 1);
}

// A callback bidi stream cancelled while its read waits.
class CancelledReader final : public ::grpc::ClientBidiReactor<StreamMessage, StreamMessage> {
 public:
  explicit CancelledReader(TestService::Stub* stub) {
    SetHangDeadline(&context_);
    stub->async()->Bidi(&context_, this);
    StartRead(&reply_);
    StartCall();
  }
  void Cancel() { context_.TryCancel(); }
  void OnReadDone(bool ok) override { read_ok_ = ok; }
  void OnDone(const Status& status) override { done_.Set(status); }
  Status Wait() { return done_.Wait(); }
  bool read_ok() const { return read_ok_; }

 private:
  ClientContext context_;
  StreamMessage reply_;
  bool read_ok_ = true;
  CallDone done_;
};

TEST_P(StatusMessageTest, CallbackStreamCancelled) {
  CancelledReader reader(stub_.get());
  reader.Cancel();
  Status status = reader.Wait();
  EXPECT_FALSE(reader.read_ok()) << "a read of a cancelled stream";
  EXPECT_EQ(status.error_code(), StatusCode::CANCELLED);
  EXPECT_EQ(status.error_message(), kCancelledMessage);
  ExpectPaths(0, 1);
}

}  // namespace
}  // namespace notnets::test
