// A user who may write the pool file (a pool of mode 0666 shared by several teams) scribbles
// random bytes over all of it while calls run. The threat model (docs/security.md) lets such a
// user deny service, but never change an answer: every call returns the bytes its server sent,
// or fails with an error; nothing crashes or hangs. The scribbler acts as another uid on a thread
// of its own (thread_acts_as.h), so the test runs only as root (as CI does).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "notnets/channel.h"
#include "notnets/client_context.h"
#include "notnets/pool.h"
#include "notnets/server.h"
#include "scribbler.h"
#include "test_pool.h"
#include "thread_acts_as.h"

namespace notnets {
namespace {

constexpr uint32_t kScribbler = 54351;
constexpr auto kScribbleFor = std::chrono::milliseconds(1500);

// Writes 8 random bytes at a random offset of the file `path`, over and over, until `stop`, as
// user kScribbler. Returns how many writes it made; 0 if the file could not be opened and mapped.
uint64_t Scribble(const std::string& path, const std::atomic<bool>& stop) {
  testing::ThreadActsAs user(kScribbler);
  if (!user.ok) return 0;
  int fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0) return 0;
  struct stat file;
  void* base = MAP_FAILED;
  if (::fstat(fd, &file) == 0 && file.st_size > 8) {
    base = ::mmap(nullptr, file.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  ::close(fd);
  if (base == MAP_FAILED) return 0;
  auto size = static_cast<uint64_t>(file.st_size);
  uint64_t writes = testing::ScribbleUntil(static_cast<uint8_t*>(base), size, size, stop);
  ::munmap(base, file.st_size);
  return writes;
}

// The request of call `i`: sizes from inline (a few bytes) to blocks of tens of KiB, contents
// that differ from call to call.
std::string RequestOf(uint64_t i) {
  static constexpr size_t kSizes[] = {5, 200, 3000, 40000};
  std::string request(kSizes[i % 4], '\0');
  for (size_t j = 0; j < request.size(); ++j) request[j] = static_cast<char>('a' + (i + j) % 26);
  return request;
}

// Payloads and metadata are in the connection's segments (its arenas), which the scribbler cannot
// open: with them in heap blocks of the pool file (connection_arena_bytes = 0), a scribble that
// lands in one changed the answer, with status OK (575 of 13,840 successful calls in one run;
// docs/security.md, "What a party inside a pool can do today").
TEST(ScribbleTest, AnotherUserScribblingThePoolNeverChangesAnAnswer) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  PoolOptions options;
  options.size_bytes = 8ull << 20;  // small, so that the scribbles often land in what calls use
  options.file_mode = 0666;
  testing::TestPool pool(options, "scribble");
  ASSERT_NE(pool.pool(), nullptr);
  Service service("test.Scribbled");
  service.AddMethod("Echo",
                    [](ServerContext*, const ReceivedMessage& request, ServerResponse* response) {
                      response->Copy(request.view());
                      return Status::OK;
                    });
  std::unique_ptr<Server> server;
  ASSERT_TRUE(ServerBuilder(pool.pool())
                  .RegisterService(&service)
                  .SetWorkerThreads(2)
                  .BuildAndStart(&server)
                  .ok());
  std::shared_ptr<Channel> channel;
  ASSERT_TRUE(Channel::Connect(pool.pool(), service.name(), ChannelOptions(), &channel).ok());

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0};
  std::thread scribbler([&] { writes = Scribble(pool.pool()->path(), stop); });
  uint64_t ok = 0;
  uint64_t failed = 0;
  std::vector<uint64_t> changed;
  auto until = std::chrono::steady_clock::now() + kScribbleFor;
  for (uint64_t i = 0; std::chrono::steady_clock::now() < until; ++i) {
    // A channel that broke (its server's connection was scribbled shut, say) is made again: the
    // scribbler must not get a second chance at an answer by the test giving up early.
    if (channel == nullptr &&
        !Channel::Connect(pool.pool(), service.name(), ChannelOptions(), &channel).ok()) {
      ++failed;
      continue;
    }
    std::string request = RequestOf(i);
    std::string response;
    ClientContext context;
    context.set_timeout(std::chrono::milliseconds(500));
    Status status = channel->Call("Echo", request, &response, &context);
    if (!status.ok()) {
      ++failed;
      if (status.error_code() == StatusCode::UNAVAILABLE) channel.reset();
      continue;
    }
    ++ok;
    if (response != request) changed.push_back(i);
  }
  stop = true;
  scribbler.join();
  ASSERT_GT(writes.load(), 0u) << "the scribbler could not map the pool as another user";
  EXPECT_TRUE(changed.empty()) << changed.size() << " of " << ok
                               << " successful calls returned other bytes than were sent, the "
                                  "first call "
                               << changed.front() << " (" << failed << " calls failed)";
  channel.reset();
  server->Shutdown();
  // Pool::Remove (TestPool's) leaves a file without the pool's magic number, which the scribbler
  // may have overwritten: the file goes here, and TestPool removes what is named after it.
  ::unlink(pool.pool()->path().c_str());
}

}  // namespace
}  // namespace notnets
