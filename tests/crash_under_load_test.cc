// Pool memory always comes back (ctest label `faults`): servers and clients killed with kill -9
// under load on the default pool size, on one host and across three emulated hosts, and a client
// that opens connections in a loop.
//
// NOTNETS_CRASH_KILLS sets how many times each of the server and a client is killed in
// CrashUnderLoadTest on one host (default 10, the minimum; scripts/test.sh keeps 10 for
// the sanitized builds too); across hosts, where each death is seen only when its lease runs
// out, half as many.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>

#include "process_harness.h"

namespace notnets::process_test {
namespace {

constexpr int kServerWorkers = 2;
constexpr int kClients = 4;
constexpr int kThreadsPerClient = 3;
// How long memory may take to come back: a bound for "did not hang" only.
constexpr milliseconds kReclaimBound = seconds(20);

int KillCount() {
  const char* text = std::getenv("NOTNETS_CRASH_KILLS");
  int kills = text != nullptr ? std::atoi(text) : 0;
  return kills > 0 ? kills : 10;
}

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

// Connections the server of the pool's one service has accepted.
uint64_t Accepted(const Pool& pool) {
  PoolStats stats = pool.Stats();
  return stats.services.empty() ? 0 : stats.services[0].connections_accepted;
}

// The pool memory one connection holds while open: the bytes a channel of this process takes.
uint64_t ConnectionBytes(const std::shared_ptr<Pool>& pool) {
  uint64_t before = pool->Stats().heap_used_bytes;
  std::shared_ptr<Channel> channel = ConnectToTestService(pool);
  uint64_t open = pool->Stats().heap_used_bytes;
  channel.reset();
  EXPECT_EQ(WaitForUsedBytes(*pool, before), before) << "a closed channel kept memory";
  return open - before;
}

// Where the processes of a test run.
enum class Hosts {
  kOne,    // all on this host: a death is seen at once, through the kernel
  kThree,  // the server on an emulated host of its own, the clients on two others: a death is
           // seen when the dead host's lease runs out, and no futex wakes across them
};

class CrashUnderLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Pool::Create(pool_name_, PoolOptions(), &pool_).ok());
    empty_used_ = pool_->Stats().heap_used_bytes;
  }
  void TearDown() override {
    Pool::Remove(pool_name_);
    unlink(once_log_.c_str());
  }

  // The launcher of a process on `host` (empty: this host, unless hosts_ is kThree).
  std::vector<std::string> On(const std::string& host) const {
    if (hosts_ == Hosts::kOne) return {};
    return OnEmulatedHost(host, pool_name_);
  }

  std::unique_ptr<PeerProcess> StartLoadServer() {
    return StartServer(pool_name_, kServerWorkers, {"NOTNETS_TEST_ONCE_LOG=" + once_log_},
                       On("server"));
  }

  // Starts a load client and expects it to connect and complete a call.
  std::unique_ptr<PeerProcess> StartClient() {
    ++seed_;
    auto client = std::make_unique<PeerProcess>(
        std::vector<std::string>{"load", pool_name_, std::to_string(seed_),
                                 std::to_string(kThreadsPerClient)},
        std::vector<std::string>{}, On(seed_ % 2 == 0 ? "client-a" : "client-b"));
    EXPECT_TRUE(client->WaitForLine("ready", kStartBound))
        << "a new client did not connect and call: " << client->output();
    return client;
  }

  // Makes the load client `client` idle: SIGUSR1 to it, wherever it runs.
  void MakeIdle(PeerProcess* client) const {
    if (hosts_ == Hosts::kOne) {
      client->Signal(SIGUSR1);
    } else {
      SignalHost(*client, SIGUSR1);
    }
  }

  // Kills servers and clients under load, `kills` times each, then checks that every byte and
  // file they held comes back and that no answer was wrong.
  void KillUnderLoad(int kills);

  // Everything a client printed must be free of wrong answers and unclear failures.
  static void ExpectNoBadAnswers(const PeerProcess& client) {
    EXPECT_EQ(client.output().find("MISMATCH"), std::string::npos) << client.output();
    EXPECT_EQ(client.output().find("UNCLEAR"), std::string::npos) << client.output();
  }

  // Every at-most-once call ran at most once, whichever servers it went to.
  void ExpectNothingRanTwice() {
    std::ifstream log(once_log_);
    std::map<std::string, int> runs;
    std::string line;
    while (std::getline(log, line)) {
      if (++runs[line] == 2) ADD_FAILURE() << "at-most-once call " << line << " ran twice";
    }
    EXPECT_FALSE(runs.empty()) << "no at-most-once call ran";
  }

  std::string pool_name_ = UniquePoolName();
  std::string once_log_ = "/tmp/notnets-once-" + pool_name_;
  std::shared_ptr<Pool> pool_;
  uint64_t empty_used_ = 0;
  uint64_t seed_ = 0;
  Hosts hosts_ = Hosts::kOne;
};

void CrashUnderLoadTest::KillUnderLoad(int kills) {
  std::unique_ptr<PeerProcess> server = StartLoadServer();
  // The server's method table: what the pool holds with a server and no client.
  const uint64_t serving_used = pool_->Stats().heap_used_bytes;
  const uint64_t connection_bytes = ConnectionBytes(pool_);
  std::vector<std::unique_ptr<PeerProcess>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(StartClient());
  std::mt19937 random(static_cast<uint32_t>(getpid()));
  std::uniform_int_distribution<int> pause_ms(50, 250);
  for (int round = 0; round < 2 * kills; ++round) {
    std::this_thread::sleep_for(milliseconds(pause_ms(random)));  // load runs meanwhile
    if (round % 2 == 0) {
      server->Signal(SIGKILL);
      ASSERT_TRUE(server->Wait(kHangBound).has_value());
      server = StartLoadServer();
    } else {
      std::unique_ptr<PeerProcess>& victim = clients[random() % clients.size()];
      victim->Signal(SIGKILL);
      ASSERT_TRUE(victim->Wait(kHangBound).has_value());
      victim->ReadFor(milliseconds(100));
      ExpectNoBadAnswers(*victim);
      victim = StartClient();
    }
    if (HasFailure()) return;
  }

  // The survivors go idle; then their server dies and another takes its place. What they held
  // for the dead one, and what it held for them, comes back without a call. A channel may connect
  // to the new server as soon as it sees it register (across hosts, before it can tell that the
  // old one died): those connections are the only memory left.
  for (auto& client : clients) MakeIdle(client.get());
  for (auto& client : clients) EXPECT_TRUE(client->WaitForLine("idle", kHangBound));
  server->Signal(SIGKILL);
  ASSERT_TRUE(server->Wait(kHangBound).has_value());
  server = StartLoadServer();
  auto give_up = Clock::now() + kReclaimBound;
  uint64_t used, expected;
  do {
    std::this_thread::sleep_for(milliseconds(20));
    used = pool_->Stats().heap_used_bytes;
    expected = serving_used + Accepted(*pool_) * connection_bytes;
  } while (used != expected && Clock::now() < give_up);
  EXPECT_EQ(used, expected) << "idle clients of a dead server kept its memory (" << Accepted(*pool_)
                            << " connections to the new server)";

  for (auto& client : clients) {
    client->Signal(SIGTERM);
    std::optional<int> status = client->Wait(kHangBound);
    client->ReadFor(milliseconds(100));
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << client->output();
    ExpectNoBadAnswers(*client);
  }
  EXPECT_EQ(WaitForUsedBytes(*pool_, serving_used), serving_used) << "the clients left memory";
  ExpectNothingRanTwice();
  StopServer(server.get());
  EXPECT_EQ(pool_->Stats().heap_used_bytes, empty_used_) << "the server left memory";
  // Each killed process's files were removed by the processes that saw it die, or by the next
  // one that opened the pool (each restart did).
  EXPECT_EQ(SegmentFiles(pool_->path(), ""), std::vector<std::string>())
      << "killed processes left segment files";
}

TEST_F(CrashUnderLoadTest, MemoryComesBackAfterServersAndClientsAreKilled) {
  KillUnderLoad(KillCount());
}

// Each kill takes every process of a host: its pid 1, killed, takes the others with it.
TEST_F(CrashUnderLoadTest, MemoryComesBackAfterServerAndClientHostsAreKilled) {
  std::string why = WhyHostsCannotBeEmulated(pool_name_);
  if (!why.empty()) GTEST_SKIP() << why;
  hosts_ = Hosts::kThree;
  KillUnderLoad(std::max(KillCount() / 2, 1));
}

// A client opening connections in a loop: `max_connections` is its process's quota (0: the
// default). Another client still connects and calls while it floods, and once it is killed the
// pool gets back everything it had, refused connections included.
void Flood(const std::shared_ptr<Pool>& pool, const std::string& name, uint32_t max_connections,
           const std::string& quota) {
  std::unique_ptr<PeerProcess> server = StartServer(name, 1);
  const uint64_t serving_used = pool->Stats().heap_used_bytes;
  std::vector<std::string> args{"flood", name};
  if (max_connections != 0) args.push_back(std::to_string(max_connections));
  PeerProcess flooder(args);
  auto give_up = Clock::now() + seconds(60);
  while (flooder.output().find("refused") == std::string::npos && Clock::now() < give_up) {
    flooder.ReadFor(milliseconds(100));
  }
  EXPECT_NE(flooder.output().find("RESOURCE_EXHAUSTED"), std::string::npos) << flooder.output();
  EXPECT_NE(flooder.output().find(quota), std::string::npos) << flooder.output();

  std::shared_ptr<Channel> bystander = ConnectToTestService(pool);
  ASSERT_NE(bystander, nullptr);
  ClientContext context;
  context.set_timeout(kHangBound);
  std::string response;
  EXPECT_TRUE(bystander->Call("Echo", "still here", &response, &context).ok());
  EXPECT_EQ(response, "still here");
  bystander.reset();

  flooder.Signal(SIGKILL);
  ASSERT_TRUE(flooder.Wait(kHangBound).has_value());
  EXPECT_EQ(WaitForUsedBytes(*pool, serving_used), serving_used)
      << "the flooder's connections were not all freed";
  StopServer(server.get());
}

TEST_F(CrashUnderLoadTest, AFlooderMeetsItsProcessQuota) {
  Flood(pool_, pool_name_, 0, "PoolOptions::max_process_connections");
}

TEST_F(CrashUnderLoadTest, AFlooderMeetsTheServersLimit) {
  Flood(pool_, pool_name_, 100000, "ServerBuilder::SetMaxConnectionsPerClient");
}

}  // namespace
}  // namespace notnets::process_test
