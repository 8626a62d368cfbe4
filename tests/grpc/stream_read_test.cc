// The read of a server stream over the pool, at the protocol level (docs/grpc.md, "Streams"): one
// read's answer carries every message the server has buffered, so that a reader that fell behind
// catches up in one round trip. With one round trip and three thread hand-offs per message, a
// stream on a loaded machine crawled at a few hundred messages a second (each hand-off waiting
// out another process's time slice) until the bench's watchdog gave up on it.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpc/wire.h"
#include "grpc_path_test.h"
#include "gtest/gtest.h"
#include "notnets/channel.h"
#include "notnets/pool.h"
#include "test_pool.h"
#include "test_service.grpc.pb.h"
#include "test_services.h"

namespace notnets::test {
namespace {

namespace wire = notnets::grpc::internal;

constexpr char kService[] = "notnets.test.TestService";
constexpr uint64_t kStreamId = 0x5EADull;

class StreamReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_name_ = notnets::testing::UniquePoolName("grpc-read");
    StartServer(Path::kPool, pool_name_, &service_, &server_, &grpc_channel_);
    ASSERT_NE(server_, nullptr);
    ASSERT_TRUE(notnets::Pool::Attach(pool_name_, &pool_).ok());
    notnets::Status status = notnets::Channel::Connect(pool_, kService, {}, &channel_);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  void TearDown() override {
    channel_.reset();
    pool_.reset();
    grpc_channel_.reset();
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    notnets::Pool::Remove(pool_name_);
  }

  // Runs a server stream of `count` messages of `size` bytes to its end without reading it: the
  // open call is answered once the server's reactor finished, so every message is buffered.
  void RunUnread(uint32_t count, uint32_t size) {
    StreamRequest request;
    request.set_message_count(count);
    request.set_message_size(size);
    std::string open(wire::kStreamIdBytes, '\0');
    std::memcpy(open.data(), &kStreamId, sizeof(kStreamId));
    open += request.SerializeAsString();
    std::string answer;
    notnets::ClientContext context;
    notnets::Status status = channel_->Call("ServerStream", open, &answer, &context);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  // One stream operation on the stream.
  notnets::Status Op(wire::StreamOp op, std::string* answer) {
    std::string request(wire::kStreamOpHeaderBytes, '\0');
    wire::EncodeStreamOp(op, kStreamId, reinterpret_cast<uint8_t*>(request.data()));
    notnets::ClientContext context;
    return channel_->Call(wire::kStreamMethod, request, answer, &context);
  }

  // Reads the stream to its end; returns the size of each read's answer, and appends the
  // sequence numbers of the messages, in the order they came, to `*sequences`. A malformed
  // answer fails the test.
  std::vector<size_t> ReadAll(uint32_t size, std::vector<uint32_t>* sequences) {
    std::vector<size_t> answers;
    std::string answer;
    notnets::Status status;
    while ((status = Op(wire::StreamOp::kRead, &answer)).ok()) {
      answers.push_back(answer.size());
      std::string_view rest = answer;
      std::string_view bytes;
      while (wire::TakeReadMessage(&rest, &bytes)) {
        StreamMessage message;
        EXPECT_TRUE(message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
        EXPECT_EQ(message.payload().size(), size);
        sequences->push_back(message.sequence());
      }
      EXPECT_TRUE(rest.empty()) << "a read's answer ends in " << rest.size() << " stray bytes";
      if (!rest.empty()) break;
    }
    EXPECT_EQ(status.error_code(), notnets::StatusCode::OUT_OF_RANGE) << status.ToString();
    EXPECT_TRUE(Op(wire::StreamOp::kClose, &answer).ok());
    return answers;
  }

  static std::vector<uint32_t> Sequence(uint32_t count) {
    std::vector<uint32_t> sequence(count);
    for (uint32_t i = 0; i < count; ++i) sequence[i] = i;
    return sequence;
  }

  ServerObservations observations_;
  CallbackTestService service_{&observations_};
  std::string pool_name_;
  std::unique_ptr<::grpc::Server> server_;
  std::shared_ptr<::grpc::Channel> grpc_channel_;
  std::shared_ptr<notnets::Pool> pool_;
  std::shared_ptr<notnets::Channel> channel_;
};

TEST_F(StreamReadTest, OneReadTakesEveryBufferedMessage) {
  constexpr uint32_t kCount = 100;
  RunUnread(kCount, 10);
  std::vector<uint32_t> sequences;
  std::vector<size_t> answers = ReadAll(10, &sequences);
  EXPECT_EQ(sequences, Sequence(kCount));
  EXPECT_EQ(answers.size(), 1u) << "reads it took to catch up with " << kCount << " messages";
}

TEST_F(StreamReadTest, AnswersStopAtTheirSize) {
  // Eight of them are over kReadAnswerBytes.
  constexpr uint32_t kSize = wire::kReadAnswerBytes / 8;
  constexpr uint32_t kCount = 40;
  RunUnread(kCount, kSize);
  std::vector<uint32_t> sequences;
  std::vector<size_t> answers = ReadAll(kSize, &sequences);
  EXPECT_EQ(sequences, Sequence(kCount));
  EXPECT_GT(answers.size(), 1u);
  for (size_t bytes : answers) EXPECT_LE(bytes, wire::kReadAnswerBytes);
}

TEST_F(StreamReadTest, AReaderThatStopsHoldsTheWriterBack) {
  // The client reads ahead (docs/grpc.md, "Streams"): after one Read of a stream whose server
  // writes without pause, it holds at most two answers, and the server its buffer, each at most
  // kStreamWindow messages or some kStreamWindowBytes of them (a message is more than its 8-byte
  // payload). A client that kept asking would let the writer run to the end.
  constexpr uint32_t kCount = 100000;
  constexpr uint64_t kMostAhead =
      3 * (std::max(wire::kStreamWindowBytes, wire::kReadAnswerBytes) / 8 + wire::kStreamWindow);
  static_assert(kMostAhead < kCount);
  auto stub = TestService::NewStub(grpc_channel_);
  StreamRequest request;
  request.set_message_count(kCount);
  request.set_message_size(8);
  ::grpc::ClientContext context;
  auto reader = stub->ServerStream(&context, request);
  StreamMessage message;
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_EQ(message.sequence(), 0u);
  // Waits until the writer stalls: its count stays put across several looks.
  uint64_t written = 0;
  for (int unchanged = 0, looks = 0; unchanged < 5 && looks < 500; ++looks) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    uint64_t now = observations_.messages_written.load();
    unchanged = now == written ? unchanged + 1 : 0;
    written = now;
  }
  EXPECT_LE(written, kMostAhead);
  // Reading the rest would take long under the cache simulator (docs/noncoherent.md); the order
  // of long streams is the behaviour suite's (StreamingTest).
  context.TryCancel();
  while (reader->Read(&message)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), ::grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace notnets::test
