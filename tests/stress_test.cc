// Many calls from several client processes at once against one server process: every response
// must match its own request (nothing lost, duplicated or corrupted), and the pool must get all
// its memory back. NOTNETS_STRESS_CALLS sets the calls per client thread (default 20000; use
// fewer under sanitizers).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

namespace notnets::process_test {

// Defined in multiprocess_test.cc (the same test executable).
void RunClientProcesses(int server_workers, const std::vector<std::vector<std::string>>& clients,
                        std::chrono::milliseconds bound);

namespace {

constexpr int kClientProcesses = 3;
constexpr int kThreadsPerClient = 2;
constexpr int kServerWorkers = 2;

std::string CallsPerThread() {
  const char* text = std::getenv("NOTNETS_STRESS_CALLS");
  long calls = text != nullptr ? std::strtol(text, nullptr, 10) : 0;
  return std::to_string(calls > 0 ? calls : 20000);
}

std::vector<std::vector<std::string>> Clients(const char* mode, int first_seed) {
  std::vector<std::vector<std::string>> clients;
  for (int i = 0; i < kClientProcesses; ++i) {
    clients.push_back({CallsPerThread(), std::to_string(first_seed + i),
                       std::to_string(kThreadsPerClient), mode});
  }
  return clients;
}

// Sync calls: each thread has one call outstanding; every 4th goes zero-copy both ways and every
// 8th carries metadata that must come back.
TEST(StressTest, SyncCallsFromSeveralProcesses) {
  RunClientProcesses(kServerWorkers, Clients("sync", 1000), std::chrono::seconds(280));
}

// Async calls through Channel::CallAsync futures, up to 16 outstanding per thread.
TEST(StressTest, AsyncCallsFromSeveralProcesses) {
  RunClientProcesses(kServerWorkers, Clients("async", 2000), std::chrono::seconds(280));
}

}  // namespace
}  // namespace notnets::process_test
