// A server or client process for the multi-process tests (multiprocess_test.cc, stress_test.cc,
// replicas_test.cc).
//
//   notnets_test_peer serve POOL WORKERS
//       Serves "test.Echo" in the existing pool POOL with WORKERS worker threads, as one replica
//       among others if NOTNETS_TEST_REPLICA is set. Prints "ready" once serving, or why it
//       cannot serve ("test_peer serve: STATUS", on stdout for the test to read) and exits 1;
//       shuts down cleanly on SIGTERM or SIGINT; on SIGUSR1 drains (Server::Drain), prints
//       "drained" and exits 0.
//   notnets_test_peer client POOL CALLS SEED THREADS [sync|async]
//       Makes CALLS calls to "test.Echo" on each of THREADS threads (one channel), every request
//       unique and of mixed size, and checks that each response is byte-identical to its request.
//       "async" keeps up to 16 calls per thread outstanding through Channel::CallAsync futures.
//       Prints "calls=N ok=N mismatched=N failed=N" and exits 0 only if every call matched.
//   notnets_test_peer call POOL METHOD TEXT [PAD [sync|async]]
//       Makes one call of METHOD to "test.Echo" whose request is TEXT padded with spaces to PAD
//       bytes (Channel::Call, or Channel::CallAsync with "async"). Prints "status=CODE bytes=N"
//       (N: response bytes) and exits 0 only if the call succeeded. Used with NOTNETS_CRASH_AT to
//       die at a chosen step of one call (fault_injection_test.cc).
//
// Methods of test.Echo:
//   Echo          copies the request; each request metadata key K comes back as trailing
//                 metadata "echo-K" and initial metadata "init-K"
//   EchoZeroCopy  the same bytes, built in place with ServerResponse::Allocate + Send
//   Sleep         sleeps the number of milliseconds in the request text, polling for
//                 cancellation every 1 ms: CANCELLED "handler saw cancellation" if cancelled
//   Status        request text N: returns Status(StatusCode(N), "status N from handler")
//   Checksum      responds with the 8-byte little-endian FNV-1a 64 of the request
//   Cancellations how many Sleep handlers saw cancellation so far, as decimal text
//   SleepsStarted how many Sleep handlers started so far, as decimal text
//   Fill          request text N: responds with N bytes, byte i being 'a' + i % 26
//   Whoami        the server's process id, as decimal text, after sleeping the milliseconds in
//                 the request text (none if empty)
//   Host          the server's NOTNETS_HOST_ID (its emulated host; empty if unset), after
//                 sleeping the milliseconds in the request text
//   Count         how many times this server process has run Count, this call included, as
//                 decimal text (shows whether a retried call ran again)
//   Once          appends the request text and a newline to the file named by the server's
//                 NOTNETS_TEST_ONCE_LOG (if set), with one write, and responds "ran": the log
//                 shows how many times each at-most-once call ran, across server restarts
//
//   notnets_test_peer load POOL SEED THREADS
//       Calls "test.Echo" on THREADS threads (one channel) until SIGTERM: mixed sizes up to 1 MiB
//       through Echo, and every 5th call an at-most-once Once with a unique text. Prints "ready"
//       after its first successful call, "MISMATCH ..." at once for a wrong answer and
//       "UNCLEAR ..." for a failure without a status message, and on SIGTERM
//       "calls=N ok=N mismatched=N failed=N"; exits 0 only if nothing was mismatched or unclear.
//       SIGUSR1 makes it idle: it stops calling (keeping its channel) and prints "idle".
//   notnets_test_peer spread POOL THREADS SLEEP_MS
//       Calls Host (sleeping SLEEP_MS) on THREADS threads (one channel) until SIGTERM. Prints
//       "served HOST" the first time each host answers. SIGUSR1 sets a mark: once 200 calls
//       started after it have succeeded, prints "after mark:" and the hosts that answered them as
//       " HOST=N", in order. On SIGTERM prints "ok=N failed=N", then each failure as
//       "failed code=CODE MESSAGE"; exits 0. Used on emulated hosts to see replicas share calls.
//   notnets_test_peer rejoin POOL SLEEP_MS
//       Calls Echo once and prints "ready"; if SLEEP_MS > 0, starts a call of Sleep(SLEEP_MS) on
//       another thread, to be in flight while the process is stopped; prints "waiting" and waits
//       for SIGUSR1. Then calls Echo on the same Channel until one succeeds (for up to 60 s):
//       prints the first failure as "failed code=CODE MESSAGE", then "succeeded again"; then the
//       Sleep call's outcome as "in flight: code=CODE MESSAGE", and exits 0 once an Echo
//       succeeded. Used on emulated hosts to see a fenced process, or its server, rejoin.
//   notnets_test_peer flood POOL [MAX_CONNECTIONS]
//       Connects channels to "test.Echo", one call on each, and keeps them until a Connect or a
//       call fails, then prints "refused after N: STATUS" and waits to be killed.
//       MAX_CONNECTIONS sets PoolOptions::max_process_connections.
//   notnets_test_peer hog POOL
//       Connects to "test.Echo" with its messages in the pool's heap (connection_arena_bytes = 0)
//       and allocates 64 KiB messages, keeping them, until an allocation fails; then prints
//       "hogging N: STATUS" and waits to be killed.
//   notnets_test_peer attach-flood POOL
//       Attaches POOL again and again, keeping every Pool, until an attach fails; then prints
//       "attached N: STATUS" and waits to be killed.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
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
#include "notnets/server.h"

namespace {

using notnets::Status;
using notnets::StatusCode;

uint64_t Fnv1a(const uint8_t* data, size_t size) {
  uint64_t hash = 14695981039346656037ull;
  for (size_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 1099511628211ull;
  return hash;
}

uint64_t SplitMix(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int Serve(const std::string& pool_name, int workers) {
  // Block the stop signals before any thread starts, so that only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGUSR1);  // drains instead
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::shared_ptr<notnets::Pool> pool;
  Status status = notnets::Pool::Attach(pool_name, &pool);
  if (!status.ok()) {
    std::printf("test_peer serve: %s\n", status.ToString().c_str());
    return 1;
  }

  std::atomic<uint64_t> cancellations{0};
  std::atomic<uint64_t> sleeps_started{0};
  notnets::Service service("test.Echo");
  service.AddMethod("Echo",
                    [](notnets::ServerContext* context, const notnets::ReceivedMessage& request,
                       notnets::ServerResponse* response) {
                      for (const auto& [key, value] : context->client_metadata()) {
                        context->AddTrailingMetadata("echo-" + key, value);
                        context->AddInitialMetadata("init-" + key, value);
                      }
                      response->Copy(request.view());
                      return Status::OK;
                    });
  service.AddMethod("EchoZeroCopy",
                    [](notnets::ServerContext*, const notnets::ReceivedMessage& request,
                       notnets::ServerResponse* response) {
                      notnets::MessageBuffer buffer;
                      Status allocated = response->Allocate(request.size(), &buffer);
                      if (!allocated.ok()) return allocated;
                      if (request.size() > 0)
                        std::memcpy(buffer.data(), request.data(), request.size());
                      buffer.set_size(request.size());
                      response->Send(std::move(buffer));
                      return Status::OK;
                    });
  service.AddMethod(
      "Sleep", [&cancellations, &sleeps_started](notnets::ServerContext* context,
                                                 const notnets::ReceivedMessage& request,
                                                 notnets::ServerResponse* response) {
        sleeps_started.fetch_add(1);
        auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(std::atoll(std::string(request.view()).c_str()));
        while (std::chrono::steady_clock::now() < until) {
          if (context->IsCancelled()) {
            cancellations.fetch_add(1);
            return Status(StatusCode::CANCELLED, "handler saw cancellation");
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        response->Copy("slept");
        return Status::OK;
      });
  service.AddMethod("Status", [](notnets::ServerContext*, const notnets::ReceivedMessage& request,
                                 notnets::ServerResponse*) {
    std::string text(request.view());
    return Status(static_cast<StatusCode>(std::atoi(text.c_str())),
                  "status " + text + " from handler");
  });
  service.AddMethod("Checksum", [](notnets::ServerContext*, const notnets::ReceivedMessage& request,
                                   notnets::ServerResponse* response) {
    uint64_t hash = Fnv1a(request.data(), request.size());
    char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(hash >> (8 * i));
    response->Copy(std::string_view(bytes, 8));
    return Status::OK;
  });
  service.AddMethod("Cancellations",
                    [&cancellations](notnets::ServerContext*, const notnets::ReceivedMessage&,
                                     notnets::ServerResponse* response) {
                      response->Copy(std::to_string(cancellations.load()));
                      return Status::OK;
                    });
  service.AddMethod("SleepsStarted",
                    [&sleeps_started](notnets::ServerContext*, const notnets::ReceivedMessage&,
                                      notnets::ServerResponse* response) {
                      response->Copy(std::to_string(sleeps_started.load()));
                      return Status::OK;
                    });

  service.AddMethod("Fill", [](notnets::ServerContext*, const notnets::ReceivedMessage& request,
                               notnets::ServerResponse* response) {
    std::string bytes(std::strtoull(std::string(request.view()).c_str(), nullptr, 10), '\0');
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>('a' + i % 26);
    response->Copy(bytes);
    return Status::OK;
  });

  service.AddMethod("Whoami", [](notnets::ServerContext*, const notnets::ReceivedMessage& request,
                                 notnets::ServerResponse* response) {
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::atoll(std::string(request.view()).c_str())));
    response->Copy(std::to_string(getpid()));
    return Status::OK;
  });

  service.AddMethod("Host", [](notnets::ServerContext*, const notnets::ReceivedMessage& request,
                               notnets::ServerResponse* response) {
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::atoll(std::string(request.view()).c_str())));
    const char* host = std::getenv("NOTNETS_HOST_ID");
    response->Copy(host != nullptr ? host : "");
    return Status::OK;
  });

  std::atomic<uint64_t> counted{0};
  service.AddMethod("Count", [&counted](notnets::ServerContext*, const notnets::ReceivedMessage&,
                                        notnets::ServerResponse* response) {
    response->Copy(std::to_string(counted.fetch_add(1) + 1));
    return Status::OK;
  });

  const char* once_log_path = std::getenv("NOTNETS_TEST_ONCE_LOG");
  int once_log = once_log_path == nullptr
                     ? -1
                     : open(once_log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  service.AddMethod(
      "Once", [once_log](notnets::ServerContext*, const notnets::ReceivedMessage& request,
                         notnets::ServerResponse* response) {
        std::string line = std::string(request.view()) + "\n";
        if (once_log >= 0 && write(once_log, line.data(), line.size()) != ssize_t(line.size())) {
          return Status(StatusCode::INTERNAL, "could not write the once log");
        }
        response->Copy("ran");
        return Status::OK;
      });

  std::unique_ptr<notnets::Server> server;
  notnets::ServerBuilder builder(pool);
  builder.RegisterService(&service).SetWorkerThreads(workers);
  // A replica of test.Echo beside others (replicas_test.cc).
  if (std::getenv("NOTNETS_TEST_REPLICA") != nullptr) builder.ServeAsReplica();
  status = builder.BuildAndStart(&server);
  if (!status.ok()) {
    std::printf("test_peer serve: %s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  if (signal_number == SIGUSR1) {
    server->Drain();
    std::printf("drained\n");
    std::fflush(stdout);
    return 0;
  }
  server->Shutdown();
  return 0;
}

// The request of call `index` on `thread`: size and bytes derived from the three numbers. Requests
// of 16 bytes or more start with (seed, thread, index), so no two are alike.
std::string MakeRequest(uint64_t seed, uint32_t thread, uint32_t index) {
  uint64_t state = seed * 0x100000001b3ull ^ (uint64_t{thread} << 40) ^ index;
  uint64_t pick = SplitMix(&state) % 1000;
  size_t size = pick < 450   ? SplitMix(&state) % 25                         // inline (0..24)
                : pick < 850 ? 25 + SplitMix(&state) % (4096 - 25)           // small blocks
                : pick < 990 ? 4096 + SplitMix(&state) % (60 << 10)          // up to 64 KiB
                             : (64 << 10) + SplitMix(&state) % (960 << 10);  // up to 1 MiB
  std::string request(size, '\0');
  for (size_t i = 0; i < size; i += 8) {
    uint64_t word = SplitMix(&state);
    std::memcpy(&request[i], &word, std::min<size_t>(8, size - i));
  }
  if (size >= 16) {
    uint64_t tag = uint64_t{thread} << 32 | index;
    std::memcpy(&request[0], &seed, 8);
    std::memcpy(&request[8], &tag, 8);
  }
  return request;
}

struct Tally {
  std::atomic<uint64_t> calls{0}, ok{0}, mismatched{0}, failed{0};
  std::mutex mutex;
  std::string first_error;

  void Record(const Status& status, bool matched, uint32_t thread, uint32_t index) {
    calls.fetch_add(1);
    if (status.ok() && matched) {
      ok.fetch_add(1);
      return;
    }
    (status.ok() ? mismatched : failed).fetch_add(1);
    std::lock_guard<std::mutex> lock(mutex);
    if (first_error.empty()) {
      first_error =
          "thread " + std::to_string(thread) + " call " + std::to_string(index) + ": " +
          (status.ok() ? std::string("response differs from request") : status.ToString());
    }
  }
};

// Every 4th call goes through the zero-copy paths on both sides; every 8th carries metadata.
void SyncCalls(notnets::Channel* channel, uint32_t calls, uint64_t seed, uint32_t thread,
               Tally* tally) {
  for (uint32_t i = 0; i < calls; ++i) {
    std::string request = MakeRequest(seed, thread, i);
    notnets::ClientContext context;
    context.set_timeout(std::chrono::seconds(60));  // a lost response fails instead of hanging
    std::string tag = std::to_string(seed) + "/" + std::to_string(thread) + "/" + std::to_string(i);
    if (i % 8 == 0) context.AddMetadata("call", tag);
    Status status;
    bool matched = false;
    if (i % 4 == 3) {
      notnets::MessageBuffer buffer;
      status = channel->AllocateMessage(request.size(), &buffer);
      notnets::ReceivedMessage response;
      if (status.ok()) {
        if (!request.empty()) std::memcpy(buffer.data(), request.data(), request.size());
        status = channel->Call("EchoZeroCopy", std::move(buffer), &response, &context);
      }
      matched = response.view() == request;
    } else {
      std::string response;
      status = channel->Call("Echo", request, &response, &context);
      matched = response == request;
      if (i % 8 == 0) {
        const notnets::Metadata& trailers = context.GetServerTrailingMetadata();
        auto echoed = trailers.find("echo-call");
        matched =
            matched && trailers.size() == 1 && echoed != trailers.end() && echoed->second == tag;
      }
    }
    tally->Record(status, matched, thread, i);
  }
}

// Keeps up to kWindow calls outstanding; each completed call is checked against its own request.
void AsyncCalls(notnets::Channel* channel, uint32_t calls, uint64_t seed, uint32_t thread,
                Tally* tally) {
  constexpr size_t kWindow = 16;
  struct Outstanding {
    uint32_t index;
    std::string request;
    std::unique_ptr<notnets::ClientContext> context;
    std::future<notnets::CallResult> result;
  };
  std::deque<Outstanding> window;
  auto complete_oldest = [&] {
    Outstanding& oldest = window.front();
    notnets::CallResult result = oldest.result.get();
    tally->Record(result.status, result.response.view() == oldest.request, thread, oldest.index);
    window.pop_front();
  };
  for (uint32_t i = 0; i < calls; ++i) {
    if (window.size() == kWindow) complete_oldest();
    Outstanding call{
        i, MakeRequest(seed, thread, i), std::make_unique<notnets::ClientContext>(), {}};
    call.context->set_timeout(std::chrono::seconds(60));
    call.result = channel->CallAsync("Echo", call.request, call.context.get());
    window.push_back(std::move(call));
  }
  while (!window.empty()) complete_oldest();
}

// Attaches `pool_name` and connects to its "test.Echo", waiting up to 10 s for it to register.
Status ConnectToTestService(const std::string& pool_name,
                            std::shared_ptr<notnets::Channel>* channel) {
  std::shared_ptr<notnets::Pool> pool;
  Status status = notnets::Pool::Attach(pool_name, &pool);
  if (!status.ok()) return status;
  notnets::ChannelOptions options;
  options.wait_for_service = std::chrono::seconds(10);
  return notnets::Channel::Connect(pool, "test.Echo", options, channel);
}

int Client(const std::string& pool_name, uint32_t calls, uint64_t seed, uint32_t threads,
           bool async) {
  std::shared_ptr<notnets::Channel> channel;
  Status status = ConnectToTestService(pool_name, &channel);
  if (!status.ok()) {
    std::printf("calls=0 ok=0 mismatched=0 failed=0 connect: %s\n", status.ToString().c_str());
    return 1;
  }
  Tally tally;
  std::vector<std::thread> workers;
  for (uint32_t t = 0; t < threads; ++t) {
    workers.emplace_back(
        [&, t] { (async ? AsyncCalls : SyncCalls)(channel.get(), calls, seed, t, &tally); });
  }
  for (std::thread& worker : workers) worker.join();
  bool all_ok = tally.ok.load() == uint64_t{calls} * threads;
  std::printf("calls=%llu ok=%llu mismatched=%llu failed=%llu%s%s\n",
              static_cast<unsigned long long>(tally.calls.load()),
              static_cast<unsigned long long>(tally.ok.load()),
              static_cast<unsigned long long>(tally.mismatched.load()),
              static_cast<unsigned long long>(tally.failed.load()),
              tally.first_error.empty() ? "" : " first error: ", tally.first_error.c_str());
  std::fflush(stdout);
  return all_ok ? 0 : 1;
}

// Takes pool memory in every way a client can (an unsent buffer, a received zero-copy message, a
// call whose request is still being handled, its cache), prints "holding", then waits to be
// killed: the server must reclaim all of it.
int Hold(const std::string& pool_name) {
  std::shared_ptr<notnets::Pool> pool;
  notnets::Status status = notnets::Pool::Attach(pool_name, &pool);
  std::shared_ptr<notnets::Channel> channel;
  if (status.ok()) status = notnets::Channel::Connect(pool, "test.Echo", {}, &channel);
  notnets::MessageBuffer unsent;
  if (status.ok()) status = channel->AllocateMessage(5000, &unsent);
  notnets::ReceivedMessage received;
  if (status.ok()) {
    notnets::MessageBuffer request;
    status = channel->AllocateMessage(3000, &request);
    notnets::ClientContext context;
    if (status.ok())
      status = channel->Call("EchoZeroCopy", std::move(request), &received, &context);
  }
  std::string response;
  for (int i = 0; status.ok() && i < 10; ++i) {
    notnets::ClientContext context;
    status = channel->Call("Echo", std::string(100000, 'h'), &response, &context);
  }
  if (!status.ok()) {
    std::fprintf(stderr, "hold: %s\n", status.ToString().c_str());
    return 1;
  }
  notnets::ClientContext sleeping;
  auto pending = channel->CallAsync("Sleep", "60000", &sleeping);
  std::printf("holding\n");
  std::fflush(stdout);
  pending.wait();
  return 0;
}

// One call; see the header comment.
int Call(const std::string& pool_name, const std::string& method, std::string request,
         size_t pad_to, bool async) {
  if (request.size() < pad_to) request.resize(pad_to, ' ');
  std::shared_ptr<notnets::Channel> channel;
  Status status = ConnectToTestService(pool_name, &channel);
  size_t response_bytes = 0;
  if (status.ok()) {
    notnets::ClientContext context;
    context.set_timeout(std::chrono::seconds(60));
    if (async) {
      notnets::CallResult result = channel->CallAsync(method, request, &context).get();
      status = result.status;
      response_bytes = result.response.size();
    } else {
      std::string response;
      status = channel->Call(method, request, &response, &context);
      response_bytes = response.size();
    }
  }
  std::printf("status=%d bytes=%zu\n", static_cast<int>(status.error_code()), response_bytes);
  std::fflush(stdout);
  if (!status.ok()) std::fprintf(stderr, "test_peer call: %s\n", status.ToString().c_str());
  return status.ok() ? 0 : 1;
}

// For a client run until SIGTERM (and told things by SIGUSR1): blocks both signals, to be taken
// by sigwait on `signals`, and connects to `pool_name`'s "test.Echo". False (after printing
// "connect failed: STATUS") if it could not connect.
bool StartSignalledClient(const std::string& pool_name, sigset_t* signals,
                          std::shared_ptr<notnets::Channel>* channel) {
  sigemptyset(signals);
  sigaddset(signals, SIGTERM);
  sigaddset(signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, signals, nullptr);  // before any thread starts
  Status status = ConnectToTestService(pool_name, channel);
  if (status.ok()) return true;
  std::printf("connect failed: %s\n", status.ToString().c_str());
  std::fflush(stdout);
  return false;
}

// See the header comment.
int Load(const std::string& pool_name, uint64_t seed, uint32_t threads) {
  sigset_t signals;
  std::shared_ptr<notnets::Channel> channel;
  if (!StartSignalledClient(pool_name, &signals, &channel)) return 3;
  std::atomic<bool> stop{false};
  std::atomic<bool> ready{false};
  std::atomic<uint64_t> calls{0}, ok{0}, mismatched{0}, failed{0}, unclear{0};
  std::mutex output;
  auto report = [&output](const std::string& line) {
    std::lock_guard<std::mutex> lock(output);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  auto work = [&](uint32_t thread) {
    for (uint32_t i = 0; !stop.load(); ++i) {
      notnets::ClientContext context;
      context.set_timeout(std::chrono::seconds(60));
      std::string request, expected, response;
      std::string method = "Echo";
      if (i % 5 == 4) {
        method = "Once";
        request = std::to_string(seed) + "/" + std::to_string(thread) + "/" + std::to_string(i);
        expected = "ran";
        context.set_at_most_once(true);
      } else {
        request = expected = MakeRequest(seed, thread, i);
      }
      Status status = channel->Call(method, request, &response, &context);
      calls.fetch_add(1);
      std::string what = std::to_string(seed) + "/" + std::to_string(thread) + "/" +
                         std::to_string(i) + " " + method;
      if (status.ok() && response == expected) {
        ok.fetch_add(1);
        if (!ready.exchange(true)) report("ready");
      } else if (status.ok()) {
        mismatched.fetch_add(1);
        report("MISMATCH " + what);
      } else if (status.error_message().empty()) {
        unclear.fetch_add(1);
        report("UNCLEAR " + what + ": " + status.ToString());
      } else {
        failed.fetch_add(1);
      }
    }
  };
  std::vector<std::thread> workers;
  for (uint32_t t = 0; t < threads; ++t) workers.emplace_back(work, t);
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) == 0 && signal_number == SIGUSR1 && !stop.load()) {
    stop.store(true);
    for (std::thread& worker : workers) worker.join();
    workers.clear();
    report("idle");
  }
  stop.store(true);
  for (std::thread& worker : workers) worker.join();
  report("calls=" + std::to_string(calls.load()) + " ok=" + std::to_string(ok.load()) +
         " mismatched=" + std::to_string(mismatched.load()) +
         " failed=" + std::to_string(failed.load()) + " unclear=" + std::to_string(unclear.load()));
  return mismatched.load() == 0 && unclear.load() == 0 ? 0 : 1;
}

// See the header comment.
int Spread(const std::string& pool_name, uint32_t threads, const std::string& sleep_ms) {
  constexpr int kAfterMark = 200;
  sigset_t signals;
  std::shared_ptr<notnets::Channel> channel;
  if (!StartSignalledClient(pool_name, &signals, &channel)) return 3;
  std::atomic<bool> stop{false};
  std::mutex mutex;  // guards what follows, and stdout
  uint64_t ok = 0;
  std::set<std::string> served;
  bool marked = false;
  int after_mark = 0;
  std::map<std::string, int> hosts_after_mark;
  std::vector<Status> failures;
  auto work = [&] {
    while (!stop.load()) {
      notnets::ClientContext context;
      context.set_timeout(std::chrono::seconds(60));
      // Calls started before the mark may be answered after it by a host gone since.
      bool started_after_mark;
      {
        std::lock_guard<std::mutex> lock(mutex);
        started_after_mark = marked;
      }
      std::string host;
      Status status = channel->Call("Host", sleep_ms, &host, &context);
      std::lock_guard<std::mutex> lock(mutex);
      if (!status.ok()) {
        failures.push_back(status);
        continue;
      }
      ++ok;
      if (served.insert(host).second) std::printf("served %s\n", host.c_str());
      if (started_after_mark && after_mark < kAfterMark) {
        ++hosts_after_mark[host];
        if (++after_mark == kAfterMark) {
          std::printf("after mark:");
          for (const auto& [name, count] : hosts_after_mark) {
            std::printf(" %s=%d", name.c_str(), count);
          }
          std::printf("\n");
        }
      }
      std::fflush(stdout);
    }
  };
  std::vector<std::thread> workers;
  for (uint32_t t = 0; t < threads; ++t) workers.emplace_back(work);
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) == 0 && signal_number == SIGUSR1) {
    std::lock_guard<std::mutex> lock(mutex);
    marked = true;
  }
  stop.store(true);
  for (std::thread& worker : workers) worker.join();
  std::printf("ok=%llu failed=%zu\n", static_cast<unsigned long long>(ok), failures.size());
  for (const Status& failure : failures) {
    std::printf("failed code=%d %s\n", static_cast<int>(failure.error_code()),
                failure.error_message().c_str());
  }
  std::fflush(stdout);
  return 0;
}

// See the header comment.
int Rejoin(const std::string& pool_name, const std::string& sleep_ms) {
  sigset_t go;
  sigemptyset(&go);
  sigaddset(&go, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &go, nullptr);  // before any thread starts: sigwait receives it
  std::shared_ptr<notnets::Channel> channel;
  Status status = ConnectToTestService(pool_name, &channel);
  std::string response;
  if (status.ok()) {
    notnets::ClientContext context;
    context.set_timeout(std::chrono::seconds(60));
    status = channel->Call("Echo", "before", &response, &context);
  }
  if (!status.ok()) {
    std::fprintf(stderr, "test_peer rejoin: %s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  Status in_flight;
  std::thread sleeper;
  if (std::atoll(sleep_ms.c_str()) > 0) {
    sleeper = std::thread([&] {
      notnets::ClientContext context;
      context.set_timeout(std::chrono::seconds(60));
      std::string slept;
      in_flight = channel->Call("Sleep", sleep_ms, &slept, &context);
    });
    // Lets the Sleep request out before the test stops this process (it waits in the ring then).
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf("waiting\n");
  std::fflush(stdout);
  int received = 0;
  sigwait(&go, &received);
  bool failed = false;
  for (auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       std::chrono::steady_clock::now() < give_up;) {
    notnets::ClientContext context;
    context.set_timeout(std::chrono::seconds(10));
    status = channel->Call("Echo", "after", &response, &context);
    if (status.ok() && response == "after") break;
    if (status.ok()) {
      std::printf("MISMATCH %s\n", response.c_str());
      std::fflush(stdout);
      return 1;
    }
    if (!failed) {
      std::printf("failed code=%d %s\n", static_cast<int>(status.error_code()),
                  status.error_message().c_str());
      std::fflush(stdout);
      failed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (status.ok()) {
    std::printf("succeeded again\n");
    std::fflush(stdout);
  }
  if (sleeper.joinable()) {
    sleeper.join();
    std::printf("in flight: code=%d %s\n", static_cast<int>(in_flight.error_code()),
                in_flight.error_message().c_str());
    std::fflush(stdout);
  }
  return status.ok() ? 0 : 1;
}

// See the header comment.
int Flood(const std::string& pool_name, uint32_t max_connections) {
  notnets::PoolOptions options;
  if (max_connections != 0) options.max_process_connections = max_connections;
  std::shared_ptr<notnets::Pool> pool;
  Status status = notnets::Pool::Attach(pool_name, options, &pool);
  std::vector<std::shared_ptr<notnets::Channel>> channels;
  while (status.ok()) {
    std::shared_ptr<notnets::Channel> channel;
    status = notnets::Channel::Connect(pool, "test.Echo", {}, &channel);
    if (!status.ok()) break;
    channels.push_back(channel);
    notnets::ClientContext context;
    context.set_timeout(std::chrono::seconds(60));
    std::string response;
    status = channel->Call("Echo", "flood", &response, &context);
  }
  std::printf("refused after %zu: %s\n", channels.size(), status.ToString().c_str());
  std::fflush(stdout);
  while (true) pause();
}

// See the header comment.
int Hog(const std::string& pool_name) {
  std::shared_ptr<notnets::Pool> pool;
  Status status = notnets::Pool::Attach(pool_name, &pool);
  std::shared_ptr<notnets::Channel> channel;
  notnets::ChannelOptions options;
  options.connection_arena_bytes = 0;
  if (status.ok()) status = notnets::Channel::Connect(pool, "test.Echo", options, &channel);
  std::vector<notnets::MessageBuffer> held;
  while (status.ok()) {
    notnets::MessageBuffer buffer;
    status = channel->AllocateMessage(64 << 10, &buffer);
    if (status.ok()) held.push_back(std::move(buffer));
  }
  std::printf("hogging %zu: %s\n", held.size(), status.ToString().c_str());
  std::fflush(stdout);
  while (true) pause();
}

// See the header comment.
int AttachFlood(const std::string& pool_name) {
  std::vector<std::shared_ptr<notnets::Pool>> pools;
  Status status;
  while (status.ok()) {
    std::shared_ptr<notnets::Pool> pool;
    status = notnets::Pool::Attach(pool_name, &pool);
    if (status.ok()) pools.push_back(std::move(pool));
  }
  std::printf("attached %zu: %s\n", pools.size(), status.ToString().c_str());
  std::fflush(stdout);
  while (true) pause();
}

int Usage() {
  std::fprintf(stderr,
               "usage: notnets_test_peer serve POOL WORKERS\n"
               "       notnets_test_peer client POOL CALLS SEED THREADS [sync|async]\n"
               "       notnets_test_peer call POOL METHOD TEXT [PAD [sync|async]]\n"
               "       notnets_test_peer hold POOL\n"
               "       notnets_test_peer load POOL SEED THREADS\n"
               "       notnets_test_peer spread POOL THREADS SLEEP_MS\n"
               "       notnets_test_peer rejoin POOL SLEEP_MS\n"
               "       notnets_test_peer flood POOL [MAX_CONNECTIONS]\n"
               "       notnets_test_peer hog POOL\n"
               "       notnets_test_peer attach-flood POOL\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "serve" && argc == 4) return Serve(argv[2], std::atoi(argv[3]));
  if (mode == "hold" && argc == 3) return Hold(argv[2]);
  if (mode == "hog" && argc == 3) return Hog(argv[2]);
  if (mode == "attach-flood" && argc == 3) return AttachFlood(argv[2]);
  if (mode == "rejoin" && argc == 4) return Rejoin(argv[2], argv[3]);
  if (mode == "spread" && argc == 5) {
    return Spread(argv[2], static_cast<uint32_t>(std::strtoul(argv[3], nullptr, 10)), argv[4]);
  }
  if (mode == "flood" && (argc == 3 || argc == 4)) {
    return Flood(argv[2],
                 argc == 4 ? static_cast<uint32_t>(std::strtoul(argv[3], nullptr, 10)) : 0);
  }
  if (mode == "load" && argc == 5) {
    return Load(argv[2], std::strtoull(argv[3], nullptr, 10),
                static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 10)));
  }
  if (mode == "client" && (argc == 6 || argc == 7)) {
    std::string kind = argc == 7 ? argv[6] : "sync";
    if (kind != "sync" && kind != "async") return Usage();
    return Client(argv[2], static_cast<uint32_t>(std::strtoul(argv[3], nullptr, 10)),
                  std::strtoull(argv[4], nullptr, 10),
                  static_cast<uint32_t>(std::strtoul(argv[5], nullptr, 10)), kind == "async");
  }
  if (mode == "call" && argc >= 5 && argc <= 7) {
    std::string kind = argc == 7 ? argv[6] : "sync";
    if (kind != "sync" && kind != "async") return Usage();
    return Call(argv[2], argv[3], argv[4], argc >= 6 ? std::strtoull(argv[5], nullptr, 10) : 0,
                kind == "async");
  }
  return Usage();
}
