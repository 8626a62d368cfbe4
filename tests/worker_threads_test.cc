// A server's workers follow its load between a minimum and a maximum, and can be pinned to CPUs;
// so can a channel's completion threads (docs/threads.md).
#include <sched.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "notnets/channel.h"
#include "notnets/server.h"
#include "test_pool.h"

namespace notnets {
namespace {

using std::chrono::steady_clock;

// Far longer than any call here needs: reaching it means a call found no worker.
constexpr auto kCallDeadline = std::chrono::seconds(60);

// The CPUs the calling thread may run on, as "3," or "0,1,"; empty if they cannot be read.
std::string AffinityOfThisThread() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return std::string();
  std::string cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus += std::to_string(cpu) + ",";
  }
  return cpus;
}

// The highest CPU this process may run on (-1 if none can be read): pinning there moves a thread
// off CPU 0, where it would likely run anyway.
int LastAllowedCpu() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return -1;
  int last = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) last = cpu;
  }
  return last;
}

class WorkerThreadsTest : public ::testing::Test {
 protected:
  WorkerThreadsTest() : service_("test.Workers") {
    // Returns once `release_at` handlers run at the same time (or the test releases them).
    service_.AddMethod(
        "Gather", [this](ServerContext* context, const ReceivedMessage&, ServerResponse* response) {
          std::unique_lock<std::mutex> lock(mutex_);
          // Once gathered, all are released: the first to return must not hold back the others.
          if (++running_ >= release_at_) released_ = true;
          changed_.notify_all();
          bool met = changed_.wait_until(lock, context->deadline(), [this] { return released_; });
          --running_;
          if (!met) return Status(StatusCode::DEADLINE_EXCEEDED, "not enough handlers ran at once");
          response->Copy("gathered");
          return Status::OK;
        });
    // Answers the CPUs the worker may run on.
    service_.AddMethod("Affinity",
                       [](ServerContext*, const ReceivedMessage&, ServerResponse* response) {
                         std::string cpus = AffinityOfThisThread();
                         if (cpus.empty()) {
                           return Status(StatusCode::INTERNAL, "sched_getaffinity failed");
                         }
                         response->Copy(cpus);
                         return Status::OK;
                       });
  }

  Status Start(ServerBuilder& builder) {
    Status status = builder.RegisterService(&service_).BuildAndStart(&server_);
    if (!status.ok()) return status;
    return Channel::Connect(test_pool_.pool(), "test.Workers", ChannelOptions(), &channel_);
  }

  // Makes `count` Gather calls at once, each from its own thread; their statuses.
  std::vector<Status> GatherFrom(int count) {
    std::vector<Status> statuses(count);
    std::vector<std::thread> callers;
    for (int i = 0; i < count; ++i) {
      callers.emplace_back([this, &statuses, i] {
        ClientContext context;
        context.set_deadline(steady_clock::now() + kCallDeadline);
        std::string response;
        statuses[i] = channel_->Call("Gather", "", &response, &context);
      });
    }
    for (std::thread& caller : callers) caller.join();
    return statuses;
  }

  // Waits (without bound: a hang is the failure) until `count` handlers run at once.
  void WaitForRunning(int count) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this, count] { return running_ >= count; });
  }

  void Release() {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

  // Declared first, so destroyed last: after the server has joined the workers that use them.
  std::mutex mutex_;
  std::condition_variable changed_;
  int running_ = 0;
  int release_at_ = 1 << 30;
  bool released_ = false;
  testing::TestPool test_pool_;
  Service service_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<Channel> channel_;
};

TEST_F(WorkerThreadsTest, AddsWorkersUntilEveryBlockedCallRuns) {
  // Each handler waits until four run at once: one worker per call is the only way through.
  release_at_ = 4;
  ServerBuilder builder(test_pool_.pool());
  builder.SetMinWorkerThreads(1).SetMaxWorkerThreads(8);
  ASSERT_TRUE(Start(builder).ok());
  EXPECT_EQ(server_->WorkerThreads(), 1);
  for (const Status& status : GatherFrom(4)) EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_GE(server_->PeakWorkerThreads(), 4);
  EXPECT_LE(server_->PeakWorkerThreads(), 8);
}

TEST_F(WorkerThreadsTest, NeverRunsMoreThanTheMaximum) {
  ServerBuilder builder(test_pool_.pool());
  builder.SetMinWorkerThreads(1).SetMaxWorkerThreads(3);
  ASSERT_TRUE(Start(builder).ok());
  std::thread callers([this] {
    for (const Status& status : GatherFrom(8)) EXPECT_TRUE(status.ok()) << status.ToString();
  });
  // Three handlers hold the three workers; the other five calls wait in the ring meanwhile.
  WaitForRunning(3);
  EXPECT_EQ(server_->WorkerThreads(), 3);
  Release();
  callers.join();
  EXPECT_EQ(server_->PeakWorkerThreads(), 3);
}

TEST_F(WorkerThreadsTest, IdleWorkersRetireDownToTheMinimumAndComeBack) {
  release_at_ = 3;
  ServerBuilder builder(test_pool_.pool());
  builder.SetMinWorkerThreads(1).SetMaxWorkerThreads(4);
  ASSERT_TRUE(Start(builder).ok());
  for (const Status& status : GatherFrom(3)) EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_GE(server_->PeakWorkerThreads(), 3);
  // Idle workers leave after a second without work; a generous bound, not a timing check.
  auto give_up = steady_clock::now() + std::chrono::seconds(60);
  while (server_->WorkerThreads() > 1 && steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server_->WorkerThreads(), 1);
  // The slots the retired workers left take new ones.
  {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = false;
  }
  for (const Status& status : GatherFrom(3)) EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_GE(server_->WorkerThreads(), 3);
}

TEST_F(WorkerThreadsTest, FixedWorkersStayFixed) {
  ServerBuilder builder(test_pool_.pool());
  builder.SetWorkerThreads(2);
  ASSERT_TRUE(Start(builder).ok());
  std::thread callers([this] {
    for (const Status& status : GatherFrom(4)) EXPECT_TRUE(status.ok()) << status.ToString();
  });
  WaitForRunning(2);
  Release();
  callers.join();
  EXPECT_EQ(server_->WorkerThreads(), 2);
  EXPECT_EQ(server_->PeakWorkerThreads(), 2);
  server_->Shutdown();
  EXPECT_EQ(server_->WorkerThreads(), 0);
}

TEST_F(WorkerThreadsTest, PinnedWorkersRunOnTheirCpu) {
  int last = LastAllowedCpu();
  ASSERT_GE(last, 0);
  ServerBuilder builder(test_pool_.pool());
  builder.SetWorkerThreads(2).SetWorkerCpus({last});
  ASSERT_TRUE(Start(builder).ok());
  for (int i = 0; i < 8; ++i) {
    ClientContext context;
    std::string cpus;
    ASSERT_TRUE(channel_->Call("Affinity", "", &cpus, &context).ok());
    EXPECT_EQ(cpus, std::to_string(last) + ",");
  }
}

TEST_F(WorkerThreadsTest, PinnedCompletionThreadsRunOnTheirCpu) {
  int last = LastAllowedCpu();
  ASSERT_GE(last, 0);
  ServerBuilder builder(test_pool_.pool());
  ASSERT_TRUE(Start(builder).ok());
  ChannelOptions options;
  options.completion_cpus = {last};
  std::shared_ptr<Channel> pinned;
  ASSERT_TRUE(Channel::Connect(test_pool_.pool(), "test.Workers", options, &pinned).ok());
  struct Where {
    Status status;
    std::thread::id thread;
    int cpu = -1;
    std::string cpus;
  };
  for (int i = 0; i < 8; ++i) {
    ClientContext context;
    context.set_deadline(steady_clock::now() + kCallDeadline);
    std::promise<Where> done;
    pinned->CallAsync("Affinity", "", &context, [&done](CallResult result) {
      done.set_value(
          {result.status, std::this_thread::get_id(), sched_getcpu(), AffinityOfThisThread()});
    });
    Where where = done.get_future().get();
    ASSERT_TRUE(where.status.ok()) << where.status.ToString();
    // This thread only waits on the future: the completion thread read the response.
    EXPECT_NE(where.thread, std::this_thread::get_id());
    EXPECT_EQ(where.cpu, last);
    EXPECT_EQ(where.cpus, std::to_string(last) + ",");
  }
}

TEST_F(WorkerThreadsTest, ChannelRefusesACompletionCpuItMayNotRunOn) {
  ServerBuilder builder(test_pool_.pool());
  ASSERT_TRUE(Start(builder).ok());
  ChannelOptions options;
  options.completion_cpus = {CPU_SETSIZE + 1};
  std::shared_ptr<Channel> channel;
  Status status = Channel::Connect(test_pool_.pool(), "test.Workers", options, &channel);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("completion CPU " + std::to_string(CPU_SETSIZE + 1)),
            std::string::npos)
      << status.ToString();
}

TEST_F(WorkerThreadsTest, RefusesBadPolicies) {
  ServerBuilder min_over_max(test_pool_.pool());
  min_over_max.SetMinWorkerThreads(4).SetMaxWorkerThreads(2);
  EXPECT_EQ(Start(min_over_max).error_code(), StatusCode::INVALID_ARGUMENT);
  ServerBuilder too_many(test_pool_.pool());
  too_many.SetMaxWorkerThreads(1025);
  EXPECT_EQ(Start(too_many).error_code(), StatusCode::INVALID_ARGUMENT);
  ServerBuilder no_such_cpu(test_pool_.pool());
  no_such_cpu.SetWorkerCpus({CPU_SETSIZE + 1});
  EXPECT_EQ(Start(no_such_cpu).error_code(), StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace notnets
