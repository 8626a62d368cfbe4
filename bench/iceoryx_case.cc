// iceoryx-reqres: iceoryx 2.0's request/response (UntypedClient and UntypedServer), with the
// RouDi daemon started for the case and stopped after it. Requests and responses are loaned
// chunks in iceoryx's shared memory; the client copies the request into its chunk, the server
// copies the request into the response chunk. Both sides poll as notnets does: spin (yielding)
// for up to 200 µs, then block in a WaitSet until a chunk arrives.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "case.h"
#include "emergency.h"
#include "iceoryx_hoofs/log/logmanager.hpp"
#include "iceoryx_posh/mepoo/chunk_header.hpp"
#include "iceoryx_posh/popo/untyped_client.hpp"
#include "iceoryx_posh/popo/untyped_server.hpp"
#include "iceoryx_posh/popo/wait_set.hpp"
#include "iceoryx_posh/runtime/posh_runtime.hpp"
#include "payload.h"
#include "process.h"
#include "roudi.h"

namespace notnets::bench {
namespace {

using Clock = std::chrono::steady_clock;

const iox::capro::ServiceDescription kService{"notnets", "bench", "Echo"};
constexpr uint32_t kAlignment = 8;
// How long a side spins (yielding) before it blocks in its WaitSet.
constexpr auto kSpin = std::chrono::microseconds(200);
constexpr auto kCallTimeout = std::chrono::seconds(10);

// The runtime names of server and client: "notnets-bench-iox-<role>-<tag>", `tag` being the
// parent's pid. iceoryx makes /tmp/<name> and /tmp/<name>.lock for each.
std::string RuntimeName(const char* role, const std::string& tag) {
  return std::string("notnets-bench-iox-") + role + "-" + tag;
}

// Registers this process with RouDi once, as RuntimeName(role, server_args[0]).
Status InitRuntime(const char* role, const std::vector<std::string>& server_args) {
  static bool initialized = false;
  if (initialized) return Status::OK;
  if (server_args.size() != 1) return Status(StatusCode::INVALID_ARGUMENT, "expected a name tag");
  std::string name = RuntimeName(role, server_args[0]);
  // Warnings and errors only: iceoryx's debug messages would flood the benchmark's output.
  iox::log::LogManager::GetLogManager().SetDefaultLogLevel(iox::log::LogLevel::kWarn,
                                                           iox::log::LogLevelOutput::kHideLogLevel);
  iox::runtime::PoshRuntime::initRuntime(iox::RuntimeName_t(iox::cxx::TruncateToCapacity, name));
  initialized = true;
  return Status::OK;
}

// Polls `take` until it returns true: spinning for kSpin, then blocking in `waitset` (attached to
// the state that means "something to take") a millisecond at a time. False after `timeout`, or
// once `stop` is set.
template <typename Take>
bool Await(Take take, iox::popo::WaitSet<>* waitset, Clock::duration timeout,
           const std::atomic<bool>* stop = nullptr) {
  auto start = Clock::now();
  for (;;) {
    if (take()) return true;
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) return false;
    auto waited = Clock::now() - start;
    if (waited >= timeout) return false;
    if (waited < kSpin) {
      std::this_thread::yield();
    } else {
      waitset->timedWait(iox::units::Duration::fromMilliseconds(1));
    }
  }
}

// An UntypedClient and the WaitSet it blocks in.
class IceoryxClient : public EchoClient {
 public:
  explicit IceoryxClient(size_t size) : client_(kService), payload_(size) {
    waitset_.attachState(client_, iox::popo::ClientState::HAS_RESPONSE).or_else([](auto&) {
      std::abort();  // a fresh WaitSet has room for one attachment
    });
  }
  ~IceoryxClient() override { waitset_.detachState(client_, iox::popo::ClientState::HAS_RESPONSE); }

  // Waits until the client is connected to the server.
  Status AwaitConnected() {
    auto deadline = Clock::now() + kCallTimeout;
    while (client_.getConnectionState() != iox::ConnectionState::CONNECTED) {
      if (Clock::now() >= deadline) {
        return Status(StatusCode::UNAVAILABLE, "iceoryx client not connected within 10 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return Status::OK;
  }

  Status Call() override {
    auto loaned = client_.loan(static_cast<uint32_t>(payload_.size()), kAlignment);
    if (loaned.has_error()) return Status(StatusCode::RESOURCE_EXHAUSTED, "iceoryx loan failed");
    void* request = loaned.value();
    std::string_view bytes = payload_.Next();
    std::memcpy(request, bytes.data(), bytes.size());
    int64_t sequence = static_cast<int64_t>(payload_.number());
    iox::popo::RequestHeader::fromPayload(request)->setSequenceId(sequence);
    if (client_.send(request).has_error()) {
      return Status(StatusCode::UNAVAILABLE, "iceoryx send failed");
    }
    Status result = Status(StatusCode::DEADLINE_EXCEEDED, "no iceoryx response within 10 s");
    Await(
        [&] {
          auto taken = client_.take();
          if (taken.has_error()) return false;
          const void* response = taken.value();
          auto* chunk = iox::mepoo::ChunkHeader::fromUserPayload(response);
          if (iox::popo::ResponseHeader::fromPayload(response)->getSequenceId() != sequence) {
            result = Status(StatusCode::DATA_LOSS, "iceoryx response to another request");
          } else {
            result = payload_.Check(
                std::string_view(static_cast<const char*>(response), chunk->userPayloadSize()));
          }
          client_.releaseResponse(response);
          return true;
        },
        &waitset_, kCallTimeout);
    return result;
  }

 private:
  iox::popo::UntypedClient client_;
  iox::popo::WaitSet<> waitset_;
  Payload payload_;
};

// Echoes each request into a response chunk until `stop`.
void ServeRequests(iox::popo::UntypedServer* server, const std::atomic<bool>& stop) {
  iox::popo::WaitSet<> waitset;
  waitset.attachState(*server, iox::popo::ServerState::HAS_REQUEST).or_else([](auto&) {
    std::abort();
  });
  auto echo = [server] {
    auto taken = server->take();
    if (taken.has_error()) return false;
    const void* request = taken.value();
    uint32_t size = iox::mepoo::ChunkHeader::fromUserPayload(request)->userPayloadSize();
    auto* header = iox::popo::RequestHeader::fromPayload(request);
    server->loan(header, size, kAlignment).and_then([&](void* response) {
      std::memcpy(response, request, size);
      server->send(response).or_else([](auto&) {});
    });
    server->releaseRequest(request);
    return true;
  };
  while (!stop.load(std::memory_order_relaxed)) {
    Await(echo, &waitset, std::chrono::milliseconds(100), &stop);
  }
  waitset.detachState(*server, iox::popo::ServerState::HAS_REQUEST);
}

// RouDi in the parent; an UntypedServer with one echoing thread in the server process.
class IceoryxCase : public Case {
 public:
  // Starts RouDi for this case; the other processes get the tag of their runtime names, and the
  // files iceoryx makes for them are removed if the benchmark is interrupted.
  Status Setup(const CaseOptions&, std::vector<std::string>* server_args) override {
    std::string tag = std::to_string(getpid());
    for (const char* role : {"server", "client"}) {
      std::string socket = "/tmp/" + RuntimeName(role, tag);
      unlink_on_emergency_.push_back(std::make_unique<EmergencyUnlink>(socket));
      unlink_on_emergency_.push_back(std::make_unique<EmergencyUnlink>(socket + ".lock"));
    }
    server_args->push_back(tag);
    return roudi_.Start();
  }

  Status Serve(const std::vector<std::string>& server_args, const ReadyCallback& ready) override {
    Status status = InitRuntime("server", server_args);
    if (!status.ok()) return status;
    iox::popo::UntypedServer server(kService);
    std::atomic<bool> stop{false};
    std::thread echo([&] { ServeRequests(&server, stop); });
    ready("");
    WaitForStopSignal();
    stop.store(true);
    echo.join();
    return Status::OK;
  }

  Status Connect(const std::vector<std::string>& server_args, std::string_view,
                 const ClientOptions& options, std::unique_ptr<EchoClient>* client) override {
    Status status = InitRuntime("client", server_args);
    if (!status.ok()) return status;
    auto connected = std::make_unique<IceoryxClient>(options.payload_size);
    status = connected->AwaitConnected();
    if (!status.ok()) return status;
    *client = std::move(connected);
    return Status::OK;
  }

  // RouDi's default memory pools: chunks of up to 4 MiB, header included.
  size_t MaxPayload() const override { return size_t{1} << 20; }

 private:
  // Parent only.
  RouDi roudi_;
  std::vector<std::unique_ptr<EmergencyUnlink>> unlink_on_emergency_;
};

const CaseRegistration kRegistration(50, "iceoryx-reqres",
                                     [] { return std::make_unique<IceoryxCase>(); });

}  // namespace
}  // namespace notnets::bench
