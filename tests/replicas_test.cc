// Replicas: several server processes serve test.Echo at once (ServerBuilder::ServeAsReplica), and
// one channel spreads its calls over them, survives one's death and another's drain.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "notnets/channel.h"
#include "notnets/pool.h"
#include "process_harness.h"

namespace notnets::process_test {
namespace {

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = UniquePoolName();
    PoolOptions options;
    options.size_bytes = 64ull << 20;
    ASSERT_TRUE(Pool::Create(name_, options, &pool_).ok());
  }
  void TearDown() override { Pool::Remove(name_); }

  // Starts one more replica with one worker.
  PeerProcess* StartReplica() {
    replicas_.push_back(StartServer(name_, 1, kAsReplica));
    return replicas_.back().get();
  }

  // The server process that answered a Whoami call on `channel` (its handler sleeping
  // `sleep_ms`), or 0 if the call failed.
  static pid_t Whoami(Channel* channel, int sleep_ms = 0) {
    std::string response;
    ClientContext context;
    if (!channel->Call("Whoami", std::to_string(sleep_ms), &response, &context).ok()) return 0;
    return static_cast<pid_t>(std::stol(response));
  }

  std::string name_;
  std::shared_ptr<Pool> pool_;
  std::vector<std::unique_ptr<PeerProcess>> replicas_;
};

// Calls of several threads on one channel until `stop`, each a Sleep of `sleep_ms`: tallies of
// their outcomes, and every failed status.
class CallLoad {
 public:
  CallLoad(Channel* channel, int threads, int sleep_ms) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, channel, sleep_ms] {
        while (!stop_.load()) {
          std::string response;
          ClientContext context;
          Status status = channel->Call("Sleep", std::to_string(sleep_ms), &response, &context);
          if (status.ok()) {
            ok_.fetch_add(1);
            continue;
          }
          std::lock_guard<std::mutex> lock(mutex_);
          failures_.push_back(status);
        }
      });
    }
  }
  ~CallLoad() { Stop(); }

  // Waits until `count` more calls succeeded than when called (bounded: false if not).
  bool WaitForMoreCalls(uint64_t count) {
    uint64_t target = ok_.load() + count;
    auto give_up = Clock::now() + kHangBound;
    while (ok_.load() < target && Clock::now() < give_up) {
      std::this_thread::sleep_for(milliseconds(1));
    }
    return ok_.load() >= target;
  }
  void Stop() {
    stop_.store(true);
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  std::vector<Status> failures() {
    std::lock_guard<std::mutex> lock(mutex_);
    return failures_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ok_{0};
  std::mutex mutex_;
  std::vector<Status> failures_;
  std::vector<std::thread> threads_;
};

// Each call sleeps 5 ms in its handler, so that the replicas serve at nearly the same rate
// however the machine's CPUs are shared among them (a replica starved of CPU is slower, and
// rightly gets fewer calls); more callers than replicas keep every one busy.
TEST_F(ReplicasTest, AUniformLoadIsSharedEvenly) {
  constexpr int kReplicas = 3;
  constexpr int kThreads = 6;
  constexpr int kCallsPerThread = 100;
  for (int i = 0; i < kReplicas; ++i) StartReplica();
  std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
  ASSERT_NE(channel, nullptr);
  std::mutex mutex;
  std::map<pid_t, int> served;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::map<pid_t, int> mine;
      for (int i = 0; i < kCallsPerThread; ++i) ++mine[Whoami(channel.get(), 5)];
      std::lock_guard<std::mutex> lock(mutex);
      for (const auto& [pid, count] : mine) served[pid] += count;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(served.count(0), 0u) << "some calls failed";
  double even = double(kThreads) * kCallsPerThread / kReplicas;
  for (const std::unique_ptr<PeerProcess>& replica : replicas_) {
    int count = served[replica->pid()];
    EXPECT_GE(count, 0.8 * even) << "replica " << replica->pid();
    EXPECT_LE(count, 1.2 * even) << "replica " << replica->pid();
  }
  for (const std::unique_ptr<PeerProcess>& replica : replicas_) StopServer(replica.get());
}

TEST_F(ReplicasTest, ANewReplicaTakesCalls) {
  StartReplica();
  std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
  ASSERT_NE(channel, nullptr);
  EXPECT_EQ(Whoami(channel.get()), replicas_[0]->pid());
  PeerProcess* late = StartReplica();
  bool reached = false;
  for (auto give_up = Clock::now() + kHangBound; !reached && Clock::now() < give_up;) {
    reached = Whoami(channel.get()) == late->pid();
  }
  EXPECT_TRUE(reached) << "the channel never called the replica that registered later";
  for (const std::unique_ptr<PeerProcess>& replica : replicas_) StopServer(replica.get());
}

TEST_F(ReplicasTest, KillingAReplicaFailsOnlyItsStartedCalls) {
  PeerProcess* doomed = StartReplica();
  PeerProcess* survivor = StartReplica();
  std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
  ASSERT_NE(channel, nullptr);
  {
    // More callers than the two workers: each replica has calls waiting in its ring when it dies.
    CallLoad load(channel.get(), 8, 2);
    ASSERT_TRUE(load.WaitForMoreCalls(200));
    doomed->Signal(SIGKILL);
    doomed->Wait(kHangBound);
    ASSERT_TRUE(load.WaitForMoreCalls(200));
    load.Stop();
    // The one worker of the dead replica ran at most one call; the calls waiting in its ring
    // went to the survivor.
    std::vector<Status> failures = load.failures();
    EXPECT_LE(failures.size(), 1u);
    for (const Status& status : failures) {
      EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();
    }
  }
  EXPECT_EQ(Whoami(channel.get()), survivor->pid());
  StopServer(survivor);
}

// Asynchronous calls waiting in the ring of a replica that never reads them (stopped, then
// killed) go to the other replica: every one completes there, and each runs once (the Once log of
// both replicas, every call's text unique). Half are at-most-once calls, half are not.
TEST_F(ReplicasTest, KillingAReplicaResendsTheAsyncCallsItNeverRead) {
  std::string once_log = ::testing::TempDir() + "notnets-resend-" + std::to_string(getpid());
  std::vector<std::string> environment = kAsReplica;
  environment.push_back("NOTNETS_TEST_ONCE_LOG=" + once_log);
  replicas_.push_back(StartServer(name_, 1, environment));
  PeerProcess* doomed = replicas_.back().get();
  replicas_.push_back(StartServer(name_, 1, environment));
  PeerProcess* survivor = replicas_.back().get();
  std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
  ASSERT_NE(channel, nullptr);
  // Both replicas have accepted the channel's connections and answer.
  std::set<pid_t> answered;
  for (auto give_up = Clock::now() + kHangBound; answered.size() < 2 && Clock::now() < give_up;) {
    answered.insert(Whoami(channel.get()));
  }
  ASSERT_EQ(answered, (std::set<pid_t>{doomed->pid(), survivor->pid()}));

  ASSERT_TRUE(doomed->Stop());
  // The channel spreads the calls over both replicas: those of the stopped one wait in its ring.
  constexpr int kCalls = 64;
  std::vector<ClientContext> contexts(kCalls);
  std::vector<std::future<CallResult>> results;
  for (int i = 0; i < kCalls; ++i) {
    contexts[i].set_at_most_once(i % 2 == 0);
    results.push_back(channel->CallAsync("Once", "call-" + std::to_string(i), &contexts[i]));
  }
  doomed->Signal(SIGKILL);
  ASSERT_TRUE(doomed->Wait(kHangBound).has_value());
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(results[i].wait_for(kHangBound), std::future_status::ready) << "call " << i;
    CallResult result = results[i].get();
    EXPECT_TRUE(result.status.ok()) << "call " << i << ": " << result.status.ToString();
    EXPECT_EQ(result.response.view(), "ran") << "call " << i;
  }
  StopServer(survivor);
  std::ifstream log(once_log);
  std::map<std::string, int> runs;
  for (std::string line; std::getline(log, line);) ++runs[line];
  unlink(once_log.c_str());
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(runs["call-" + std::to_string(i)], 1) << "call " << i;
  }
}

// A replica that died while another serves its name leaves an entry nobody registers into: the
// live replica frees it, with its method table and counters, within about a second.
TEST_F(ReplicasTest, ALiveReplicaFreesTheEntryOfADeadOne) {
  PeerProcess* survivor = StartReplica();
  const uint64_t one_replica = pool_->Stats().heap_used_bytes;
  PeerProcess* doomed = StartReplica();
  ASSERT_EQ(pool_->Stats().services.size(), 2u);
  ASSERT_GT(pool_->Stats().heap_used_bytes, one_replica);
  doomed->Signal(SIGKILL);
  doomed->Wait(kHangBound);
  auto give_up = Clock::now() + kHangBound;
  PoolStats stats = pool_->Stats();
  while ((stats.services.size() != 1 || stats.heap_used_bytes != one_replica) &&
         Clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(20));
    stats = pool_->Stats();
  }
  ASSERT_EQ(stats.services.size(), 1u) << "the dead replica's entry was not freed";
  EXPECT_EQ(stats.services[0].server_pid, survivor->pid());
  EXPECT_EQ(stats.heap_used_bytes, one_replica) << "its method table or counters stayed";
  StopServer(survivor);
}

TEST_F(ReplicasTest, DrainingLosesNoCall) {
  PeerProcess* drained = StartReplica();
  PeerProcess* staying = StartReplica();
  std::shared_ptr<Channel> channel = ConnectToTestService(pool_);
  ASSERT_NE(channel, nullptr);
  {
    CallLoad load(channel.get(), 8, 1);
    ASSERT_TRUE(load.WaitForMoreCalls(200));
    drained->Signal(SIGUSR1);
    EXPECT_TRUE(drained->WaitForLine("drained", kHangBound));
    std::optional<int> status = drained->Wait(kHangBound);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
    ASSERT_TRUE(load.WaitForMoreCalls(200));
    load.Stop();
    for (const Status& failure : load.failures()) ADD_FAILURE() << failure.ToString();
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Whoami(channel.get()), staying->pid());
  StopServer(staying);
}

TEST_F(ReplicasTest, ASoleServerStillRefusesASecond) {
  std::unique_ptr<PeerProcess> sole = StartServer(name_, 1);
  PeerProcess replica({"serve", name_, "1"}, kAsReplica);
  std::optional<int> status = replica.Wait(kHangBound);
  ASSERT_TRUE(status.has_value()) << "a replica registered beside a sole server";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << *status;
  StopServer(sole.get());
}

}  // namespace
}  // namespace notnets::process_test
