// Hostile peers in processes of their own (ctest label `faults`): a process that shortens the pool
// file under everyone. The honest processes must get a status for every call (never a crash, a
// hang or wrong bytes) (docs/security.md).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "process_harness.h"

namespace notnets::process_test {
namespace {

// One Echo call with `timeout`; its status, the response checked against the request.
Status Echo(Channel* channel, const std::string& request, milliseconds timeout) {
  ClientContext context;
  context.set_timeout(timeout);
  std::string response;
  Status status = channel->Call("Echo", request, &response, &context);
  EXPECT_TRUE(!status.ok() || response == request) << "an answer changed";
  return status;
}

// Ends `process` with SIGTERM and expects it to exit by itself (not by a signal such as SIGBUS)
// without a wrong answer in its output.
void ExpectExitsCleanly(PeerProcess* process, const std::string& what) {
  process->Signal(SIGTERM);
  std::optional<int> status = process->Wait(kHangBound);
  process->ReadFor(milliseconds(100));
  ASSERT_TRUE(status.has_value()) << what << " hung after SIGTERM: " << process->output();
  EXPECT_TRUE(WIFEXITED(*status)) << what << " died of signal "
                                  << (WIFSIGNALED(*status) ? WTERMSIG(*status) : 0) << ": "
                                  << process->output();
  EXPECT_EQ(process->output().find("MISMATCH"), std::string::npos) << process->output();
  EXPECT_EQ(process->output().find("UNCLEAR"), std::string::npos) << process->output();
}

class HostilePeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PoolOptions options;
    options.size_bytes = 16ull << 20;
    ASSERT_TRUE(Pool::Create(pool_name_, options, &pool_).ok());
    path_ = pool_->path();
  }
  void TearDown() override {
    Pool::Remove(pool_name_);
    // What Pool::Remove leaves of a pool whose header is gone: it removes only pool files.
    ::unlink(path_.c_str());
    ::unlink((path_ + ".name.test.Echo").c_str());
  }

  std::string pool_name_ = UniquePoolName();
  std::string path_;
  std::shared_ptr<Pool> pool_;
};

// Any process that may open the pool file may shorten it. Every other process maps it whole, and
// a read past the new end raises SIGBUS: that costs them the pool, not their lives. Each learns
// it at its next call, with a status that says what happened.
TEST_F(HostilePeerTest, AProcessThatShortensThePoolFileKillsNobody) {
  std::unique_ptr<PeerProcess> server = StartServer(pool_name_, 2);
  PeerProcess client({"load", pool_name_, "1", "2"});
  ASSERT_TRUE(client.WaitForLine("ready", kStartBound)) << client.output();
  std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
  ASSERT_NE(channel, nullptr);
  ASSERT_TRUE(Echo(channel.get(), std::string(3000, 'a'), kHangBound).ok());

  int fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::ftruncate(fd, 0), 0) << std::strerror(errno);
  ::close(fd);
  // Calls on the open connection may still go through its segments until this process reads a
  // page of the pool; from then on every call fails at once.
  Status status;
  for (auto give_up = Clock::now() + kHangBound; Clock::now() < give_up;) {
    status = Echo(channel.get(), std::string(3000, 'b'), seconds(1));
    if (status.error_code() == StatusCode::FAILED_PRECONDITION) break;
  }
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION) << status.ToString();
  EXPECT_NE(status.error_message().find("was shortened by another process"), std::string::npos)
      << status.ToString();
  std::shared_ptr<Channel> another;
  status = Channel::Connect(pool_, "test.Echo", ChannelOptions(), &another);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION) << status.ToString();

  ExpectExitsCleanly(&client, "the client");
  ExpectExitsCleanly(server.get(), "the server");
}

}  // namespace
}  // namespace notnets::process_test
