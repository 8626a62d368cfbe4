// An open-loop load generator for the hotel frontend, as wrk2 is for DeathStarBench's: requests
// leave at a constant rate whether or not earlier ones have come back, and each one's latency
// runs from when it was meant to leave, so that a slow server cannot hide its queue by slowing
// the generator down (no coordinated omission).
//
//   hotel_loadgen [--transport pool|http2] [--pool NAME] [--port-base N] [--rate PER_S]
//                 [--duration S] [--warmup S] [--seed N] [--hotels N] [--timeout-ms N]
//                 [--cpu-tag TEXT] [--label TEXT]
//
// Sends rate x (warmup + duration) requests of request_mix.h's stream, each with a deadline of
// --timeout-ms from when it was meant to leave and a trace id. Latencies and CPU count from the
// end of the warm-up. Prints one CSV line (and a readable one on stderr):
//
//   label,offered_per_s,achieved_per_s,p50_us,p99_us,p999_us,requests,errors,cpu_us_per_request,checksum
//
// `checksum` is the sum over every request (warm-up included) that succeeded of a hash of its
// index and its serialized response: independent of completion order, equal between runs with
// the same seed, rate and duration exactly when their responses are. cpu_us_per_request is the
// CPU of the processes tagged --cpu-tag (process_cpu.h) per measured request, or -1 without a
// tag. Failures are also counted by status code on stderr. Exits 1 if any request failed.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "call_context.h"
#include "dataset.h"
#include "deployment.h"
#include "flags.h"
#include "frontend.grpc.pb.h"
#include "hash.h"
#include "process_cpu.h"
#include "request_mix.h"

namespace {

using Clock = std::chrono::steady_clock;

// What the run keeps of each request, written once by its completion.
struct Outcome {
  int64_t latency_ns = 0;
  uint64_t hash = 0;
  bool ok = false;
  // Of a failed request: its status, to tell overload (DEADLINE_EXCEEDED) from breakage.
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
};

// Counts completions, so that the sender can wait for the last one.
class Completions {
 public:
  void Add() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++done_;
    last_ = Clock::now();
    changed_.notify_all();
  }
  // Waits until `count` requests have completed; returns when the last one did.
  Clock::time_point WaitFor(uint64_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return done_ >= count; });
    return last_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t done_ = 0;
  Clock::time_point last_;
};

// One request in flight, alive until its completion.
struct Call {
  grpc::ClientContext context;
  hotel::UserRequest request;
  hotel::frontend::HotelsReply hotels;
  hotel::frontend::MessageReply message;
};

// Starts request `index` (meant to leave at `intended`) on `stub`; its completion fills
// `*outcome` and counts in `*completions`.
void Start(hotel::frontend::Frontend::Stub* stub, uint64_t seed, uint64_t index, int hotel_count,
           Clock::time_point intended, std::chrono::milliseconds timeout, Outcome* outcome,
           Completions* completions) {
  auto* call = new Call;
  call->request = hotel::MakeUserRequest(seed, index, hotel_count);
  // gRPC takes deadlines on the system clock.
  call->context.set_deadline(std::chrono::system_clock::now() +
                             (intended + timeout - Clock::now()));
  call->context.AddMetadata(hotel::kTraceIdKey, std::to_string(seed) + "-" + std::to_string(index));
  auto done = [call, index, intended, outcome, completions](grpc::Status status) {
    outcome->latency_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - intended).count();
    outcome->ok = status.ok();
    outcome->code = status.error_code();
    if (!status.ok()) outcome->message = status.error_message();
    if (status.ok()) {
      std::string bytes = call->request.kind == hotel::RequestKind::kSearch ||
                                  call->request.kind == hotel::RequestKind::kRecommend
                              ? call->hotels.SerializeAsString()
                              : call->message.SerializeAsString();
      outcome->hash = hotel::Mix(hotel::Fnv1a(bytes) ^ hotel::Mix(index));
    }
    delete call;
    completions->Add();
  };
  auto* async = stub->async();
  switch (call->request.kind) {
    case hotel::RequestKind::kSearch:
      async->SearchHotels(&call->context, &call->request.search, &call->hotels, done);
      break;
    case hotel::RequestKind::kRecommend:
      async->Recommend(&call->context, &call->request.recommend, &call->hotels, done);
      break;
    case hotel::RequestKind::kLogin:
      async->Login(&call->context, &call->request.login, &call->message, done);
      break;
    case hotel::RequestKind::kReserve:
      async->Reserve(&call->context, &call->request.reserve, &call->message, done);
      break;
  }
}

// Waits (up to 30 s) until a search, a recommendation and a login all succeed, which means every
// service but reservation's booking is serving; false if they do not.
bool WaitUntilServing(hotel::frontend::Frontend::Stub* stub) {
  Clock::time_point give_up = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < give_up) {
    grpc::ClientContext search, recommend, login;
    for (grpc::ClientContext* context : {&search, &recommend, &login}) {
      context->AddMetadata(hotel::kTraceIdKey, "probe");
      context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    }
    hotel::frontend::SearchHotelsRequest search_request;
    search_request.set_in_date(hotel::DateOf(10));
    search_request.set_out_date(hotel::DateOf(11));
    search_request.set_lat(static_cast<float>(hotel::kMinLat));
    search_request.set_lon(static_cast<float>(hotel::kMinLon));
    hotel::frontend::RecommendRequest recommend_request;
    recommend_request.set_require("rate");
    hotel::frontend::LoginRequest login_request;
    login_request.set_username("probe");
    hotel::frontend::HotelsReply hotels;
    hotel::frontend::MessageReply message;
    if (stub->SearchHotels(&search, search_request, &hotels).ok() &&
        stub->Recommend(&recommend, recommend_request, &hotels).ok() &&
        stub->Login(&login, login_request, &message).ok()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

double Percentile(const std::vector<int64_t>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(fraction * static_cast<double>(sorted.size() - 1) + 0.5);
  return static_cast<double>(sorted[rank]) / 1000;
}

}  // namespace

int main(int argc, char** argv) {
  hotel::Flags flags;
  if (!flags.Parse(argc, argv)) return 2;
  hotel::Deployment deployment;
  deployment.over_pool = flags.String("transport", "pool") == "pool";
  deployment.pool = flags.String("pool", "hotel");
  deployment.port_base = static_cast<int>(flags.Int("port-base", 50100));
  // An open loop keeps many calls in flight; the default would make them queue in the client.
  deployment.max_outstanding_calls = 4096;
  const double rate = flags.Double("rate", 1000);
  const double duration = flags.Double("duration", 5);
  const double warmup = flags.Double("warmup", 1);
  const uint64_t seed = static_cast<uint64_t>(flags.Int("seed", 1));
  const int hotel_count = static_cast<int>(flags.Int("hotels", 80));
  const std::chrono::milliseconds timeout(flags.Int("timeout-ms", 1000));
  const std::string tag = flags.String("cpu-tag", "");
  const std::string label = flags.String("label", deployment.over_pool ? "pool" : "http2");
  if (rate <= 0 || duration <= 0 || warmup < 0) {
    std::fprintf(stderr, "hotel_loadgen: --rate and --duration must be positive\n");
    return 2;
  }

  auto stub =
      hotel::frontend::Frontend::NewStub(hotel::Connect(deployment, hotel::ServiceId::kFrontend));
  if (!WaitUntilServing(stub.get())) {
    std::fprintf(stderr, "hotel_loadgen: the services did not answer within 30 s\n");
    return 1;
  }

  const uint64_t total = static_cast<uint64_t>(rate * (warmup + duration));
  const uint64_t first_measured = static_cast<uint64_t>(rate * warmup);
  std::vector<Outcome> outcomes(total);
  Completions completions;
  const Clock::time_point start = Clock::now();
  auto intended_start = [&](uint64_t index) {
    return start + std::chrono::nanoseconds(static_cast<int64_t>(1e9 * index / rate));
  };
  int processes = 0;
  double cpu_before = 0;
  for (uint64_t index = 0; index < total; ++index) {
    Clock::time_point intended = intended_start(index);
    std::this_thread::sleep_until(intended);
    if (index == first_measured && !tag.empty()) {
      cpu_before = hotel::CpuSecondsOfTagged(tag, &processes);
    }
    Start(stub.get(), seed, index, hotel_count, intended, timeout, &outcomes[index], &completions);
  }
  Clock::time_point last = completions.WaitFor(total);
  double cpu_us_per_request = -1;

  std::vector<int64_t> latencies;
  uint64_t errors = 0, checksum = 0;
  std::map<int, std::pair<uint64_t, std::string>> failures;  // code: count, first message
  for (uint64_t index = 0; index < total; ++index) {
    const Outcome& outcome = outcomes[index];
    if (outcome.ok) checksum += outcome.hash;
    if (index < first_measured) continue;
    if (outcome.ok) {
      latencies.push_back(outcome.latency_ns);
    } else {
      ++errors;
      auto& failure = failures[outcome.code];
      if (failure.first++ == 0) failure.second = outcome.message;
    }
  }
  uint64_t measured = total - first_measured;
  if (!tag.empty() && measured > 0) {
    double cpu_after = hotel::CpuSecondsOfTagged(tag, &processes);
    cpu_us_per_request = (cpu_after - cpu_before) * 1e6 / static_cast<double>(measured);
  }
  std::sort(latencies.begin(), latencies.end());
  double seconds = std::chrono::duration<double>(last - intended_start(first_measured)).count();
  double achieved = seconds > 0 ? static_cast<double>(latencies.size()) / seconds : 0;
  double p50 = Percentile(latencies, 0.5), p99 = Percentile(latencies, 0.99),
         p999 = Percentile(latencies, 0.999);
  std::printf("%s,%.0f,%.0f,%.1f,%.1f,%.1f,%llu,%llu,%.1f,%016llx\n", label.c_str(), rate, achieved,
              p50, p99, p999, static_cast<unsigned long long>(measured),
              static_cast<unsigned long long>(errors), cpu_us_per_request,
              static_cast<unsigned long long>(checksum));
  std::fprintf(stderr,
               "%s: offered %.0f/s achieved %.0f/s p50 %.1f us p99 %.1f us p99.9 %.1f us, %llu "
               "requests, %llu failed, %.1f us CPU per request in %d processes, checksum %016llx\n",
               label.c_str(), rate, achieved, p50, p99, p999,
               static_cast<unsigned long long>(measured), static_cast<unsigned long long>(errors),
               cpu_us_per_request, processes, static_cast<unsigned long long>(checksum));
  for (const auto& [code, failure] : failures) {
    std::fprintf(stderr, "%s: %llu failed with code %d, the first with: %s\n", label.c_str(),
                 static_cast<unsigned long long>(failure.first), code, failure.second.c_str());
  }
  return errors == 0 ? 0 : 1;
}
