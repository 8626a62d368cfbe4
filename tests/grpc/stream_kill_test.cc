// gRPC streams through the pool whose client or server is killed (kill -9) or stopped halfway
// (ctest label `faults`): the survivor's stream ends with a status instead of waiting forever,
// the server still shuts down and serves other clients, and the pool's memory comes back
// (docs/crash-matrix.md, "gRPC streams").
#include <grpcpp/grpcpp.h>
#include <sys/wait.h>

#include <future>
#include <tuple>

#include "notnets/grpc/channel.h"
#include "process_harness.h"
#include "test_services.h"

namespace notnets::process_test {
namespace {

using test::StreamMessage;

// How long memory may take to come back: a bound for "did not hang" only.
constexpr milliseconds kReclaimBound = seconds(20);

// Waits until the pool's used heap is `expected` bytes; returns the last value seen.
uint64_t WaitForUsedBytes(const Pool& pool, uint64_t expected) {
  auto give_up = Clock::now() + kReclaimBound;
  uint64_t used = pool.Stats().heap_used_bytes;
  while (used != expected && Clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(20));
    used = pool.Stats().heap_used_bytes;
  }
  return used;
}

// The server's API and the kind of stream.
using Case = std::tuple<std::string, std::string>;

// A stream of one kind (bidi, client or server) through the pool, with one message gone each way
// it carries them; then run on until it ends.
class HalfDoneStream {
 public:
  // Opens the stream on `pool_name`'s channel with `context` and exchanges the first messages;
  // false if that failed.
  bool Start(const std::string& pool_name, const std::string& kind,
             ::grpc::ClientContext* context) {
    grpc::ChannelOptions options;
    options.pool = pool_name;
    stub_ = test::TestService::NewStub(grpc::CreateChannel("", options));
    if (kind == "bidi") {
      bidi_ = stub_->Bidi(context);
      StreamMessage answer;
      return bidi_->Write(message_) && bidi_->Read(&answer);
    }
    if (kind == "client") {
      writer_ = stub_->ClientStream(context, &summary_);
      return writer_->Write(message_);
    }
    test::StreamRequest request;
    request.set_message_count(1000000);
    request.set_message_size(1000);
    reader_ = stub_->ServerStream(context, request);
    StreamMessage first;
    return reader_->Read(&first);
  }

  // Writes and reads on, on another thread, until the stream ends; its status.
  std::future<::grpc::Status> RunToEnd() {
    return std::async(std::launch::async, [this] {
      StreamMessage ignored;
      if (bidi_ != nullptr) {
        while (bidi_->Write(message_) && bidi_->Read(&ignored)) {
        }
        return bidi_->Finish();
      }
      if (writer_ != nullptr) {
        while (writer_->Write(message_)) {
        }
        return writer_->Finish();
      }
      while (reader_->Read(&ignored)) {
      }
      return reader_->Finish();
    });
  }

  // Drops the stream and the channel.
  void Close() {
    bidi_.reset();
    writer_.reset();
    reader_.reset();
    stub_.reset();
  }

 private:
  std::unique_ptr<test::TestService::Stub> stub_;
  StreamMessage message_ = test::NumberedMessage(0, 3000);
  test::StreamSummary summary_;
  std::unique_ptr<::grpc::ClientReaderWriter<StreamMessage, StreamMessage>> bidi_;
  std::unique_ptr<::grpc::ClientWriter<StreamMessage>> writer_;
  std::unique_ptr<::grpc::ClientReader<StreamMessage>> reader_;
};

class StreamKillTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { ASSERT_TRUE(Pool::Create(pool_name_, PoolOptions(), &pool_).ok()); }
  void TearDown() override { Pool::Remove(pool_name_); }

  std::unique_ptr<PeerProcess> StartServer() {
    auto server = std::make_unique<PeerProcess>(
        std::vector<std::string>{"serve", pool_name_, std::get<0>(GetParam())});
    EXPECT_TRUE(server->WaitForLine("ready", kStartBound)) << "the server did not start";
    return server;
  }

  std::string pool_name_ = UniquePoolName();
  std::shared_ptr<Pool> pool_;
};

// The client dies with its stream half done: the server's handler or reactor sees the stream
// end, so the server serves the next client, shuts down when asked, and frees the dead client's
// connection.
TEST_P(StreamKillTest, AClientKilledMidStreamLeavesTheServerWhole) {
  std::unique_ptr<PeerProcess> server = StartServer();
  const uint64_t serving_used = pool_->Stats().heap_used_bytes;
  PeerProcess client({"stream", pool_name_, std::get<1>(GetParam())});
  ASSERT_TRUE(client.WaitForLine("streaming", kStartBound)) << client.output();
  client.Signal(SIGKILL);
  ASSERT_TRUE(client.Wait(kHangBound).has_value());

  EXPECT_EQ(WaitForUsedBytes(*pool_, serving_used), serving_used)
      << "the killed client's connection was not freed";
  PeerProcess next({"echo", pool_name_});
  std::optional<int> status = next.Wait(kHangBound);
  next.ReadFor(milliseconds(100));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << next.output();
  server->Signal(SIGTERM);
  EXPECT_TRUE(server->WaitForLine("stopped", kHangBound))
      << "the server's shutdown waits for the dead client's stream";
}

// The server dies with the stream half done: the client's next read ends and the stream's status
// is UNAVAILABLE, not a wait without end; its connection is freed.
TEST_P(StreamKillTest, AServerKilledMidStreamEndsTheClientsStream) {
  std::unique_ptr<PeerProcess> server = StartServer();
  // What stays of a dead server until the next registers (its entry's method table).
  const uint64_t serving_used = pool_->Stats().heap_used_bytes;
  ::grpc::ClientContext context;
  HalfDoneStream stream;
  ASSERT_TRUE(stream.Start(pool_name_, std::get<1>(GetParam()), &context));
  server->Signal(SIGKILL);
  ASSERT_TRUE(server->Wait(kHangBound).has_value());

  std::future<::grpc::Status> finished = stream.RunToEnd();
  ASSERT_EQ(finished.wait_for(kHangBound), std::future_status::ready)
      << "the stream waits for its dead server";
  EXPECT_EQ(finished.get().error_code(), ::grpc::StatusCode::UNAVAILABLE);
  stream.Close();
  EXPECT_EQ(WaitForUsedBytes(*pool_, serving_used), serving_used)
      << "the dead server's connection was not freed";
}

// The server is stopped (SIGSTOP), not dead, with the stream half done: the stream ends at its
// deadline with DEADLINE_EXCEEDED, as over HTTP/2, and nothing else fails meanwhile.
TEST_P(StreamKillTest, AStoppedServersStreamEndsAtItsDeadline) {
  std::unique_ptr<PeerProcess> server = StartServer();
  ::grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  HalfDoneStream stream;
  ASSERT_TRUE(stream.Start(pool_name_, std::get<1>(GetParam()), &context));
  server->Signal(SIGSTOP);
  int stopped = 0;  // reported once every thread of the server has stopped
  ASSERT_EQ(::waitpid(server->pid(), &stopped, WUNTRACED), server->pid());

  std::future<::grpc::Status> finished = stream.RunToEnd();
  ASSERT_EQ(finished.wait_for(kHangBound), std::future_status::ready)
      << "the stream outlives its deadline";
  EXPECT_EQ(finished.get().error_code(), ::grpc::StatusCode::DEADLINE_EXCEEDED);
  server->Signal(SIGKILL);
  ASSERT_TRUE(server->Wait(kHangBound).has_value());
}

INSTANTIATE_TEST_SUITE_P(Streams, StreamKillTest,
                         ::testing::Combine(::testing::Values("sync", "callback"),
                                            ::testing::Values("bidi", "client", "server")),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param);
                         });

}  // namespace
}  // namespace notnets::process_test
