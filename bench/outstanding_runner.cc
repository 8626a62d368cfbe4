// JobMode::kOutstanding: how long a client's outstanding calls take to fail once their server is
// killed. The client talks to the notnets-native server through the native API rather than an
// EchoClient, whose calls are all echoes: these go to "Hold", which the server never answers.
#include <condition_variable>
#include <mutex>

#include "native_clients.h"
#include "notnets/channel.h"
#include "notnets/client_context.h"
#include "runners.h"
#include "start_file.h"

namespace notnets::bench {
namespace {

using Clock = std::chrono::steady_clock;

// How long a ready client waits for the kill time, and for its calls to fail: far past any
// lease period the benchmark's pools use, so that a call that never fails shows as an error.
constexpr double kFailTimeoutSeconds = 60;

// The calls' own deadline, past kFailTimeoutSeconds: a call must fail because its server died,
// never because its deadline passed.
constexpr std::chrono::seconds kCallTimeout(120);

// When each call ended, and how.
struct Outcomes {
  std::mutex mu;
  std::condition_variable all_ended;
  std::vector<Clock::time_point> ended;
  std::vector<Status> statuses;
};

}  // namespace

Status RunOutstandingJob(const Job& job, ParentPipe* parent, JobResult* result) {
  if (job.server_args.empty()) return Status(StatusCode::INVALID_ARGUMENT, "no pool path");
  std::shared_ptr<Pool> pool;
  Status status = Pool::Attach(job.server_args[0], &pool);
  if (!status.ok()) return status;
  // Declared before the channel, whose end fails the calls still outstanding and runs their
  // callbacks.
  Outcomes outcomes;
  std::vector<ClientContext> contexts(job.depth);
  std::shared_ptr<Channel> channel;
  status = Channel::Connect(pool, kNativeServiceName, ChannelOptions(), &channel);
  if (!status.ok()) return Status(status.error_code(), "connecting: " + status.error_message());
  for (ClientContext& context : contexts) {
    context.set_timeout(kCallTimeout);
    channel->CallAsync("Hold", "held", &context, [&outcomes](CallResult call) {
      Clock::time_point now = Clock::now();
      std::lock_guard<std::mutex> lock(outcomes.mu);
      outcomes.ended.push_back(now);
      outcomes.statuses.push_back(call.status);
      outcomes.all_ended.notify_all();
    });
  }
  // The server's one worker reads a connection's calls in order: once this echo is answered, the
  // server holds every call sent before it.
  std::string response;
  ClientContext echo;
  status = channel->Call("Echo", "after the held calls", &response, &echo);
  if (!status.ok()) return Status(status.error_code(), "echo: " + status.error_message());
  parent->Ready("");

  int64_t killed_ns = 0;
  status = AwaitStart(job.start_file, kFailTimeoutSeconds, &killed_ns);
  if (!status.ok()) return status;
  std::unique_lock<std::mutex> lock(outcomes.mu);
  bool ended =
      outcomes.all_ended.wait_until(lock,
                                    Clock::time_point(std::chrono::nanoseconds(killed_ns)) +
                                        std::chrono::seconds(static_cast<int>(kFailTimeoutSeconds)),
                                    [&] { return outcomes.ended.size() == contexts.size(); });
  if (!ended) {
    return Status(StatusCode::DEADLINE_EXCEEDED,
                  std::to_string(contexts.size() - outcomes.ended.size()) + " of " +
                      std::to_string(contexts.size()) + " held calls did not fail within " +
                      std::to_string(static_cast<int>(kFailTimeoutSeconds)) +
                      " s of the server's kill");
  }
  for (size_t i = 0; i < outcomes.ended.size(); ++i) {
    if (outcomes.statuses[i].error_code() != StatusCode::UNAVAILABLE) {
      return Status(
          StatusCode::DATA_LOSS,
          "a held call ended with " + outcomes.statuses[i].ToString() + ", not UNAVAILABLE");
    }
    double ms = std::chrono::duration<double, std::milli>(outcomes.ended[i].time_since_epoch() -
                                                          std::chrono::nanoseconds(killed_ns))
                    .count();
    result->metrics.push_back({kFailedAfterMetric, ms});
  }
  return Status::OK;
}

}  // namespace notnets::bench
