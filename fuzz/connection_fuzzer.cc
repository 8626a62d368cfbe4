// connection_fuzzer: a client that writes anything into its connection, against a real server.
//
// Proves: whatever a client writes in its connection block (block header, connection header with
// its segment's name) and its segment (request descriptors, cancel words, its direction
// header), in the blocks its requests name
// (headers with their ownership words, payload, metadata encoding) and in the pool's at-most-once
// window (any process can write it), the server's accept, poll, handle, respond, retire and
// reclaim paths neither crash nor hang, never hand a handler bytes from outside the block it was
// sent, and let go of the connection once its client has closed it.
//
// One ServerRuntime, started with ServerRuntime::Start as ServerBuilder does, serves the service
// for the whole fuzzing session; its worker thread is stopped at once, so that this thread runs
// the worker's steps and every run is repeatable. Each run builds the client side with the
// library's own client code (CreateConnection, BufferCache, RingWriter): an at-most-once Echo with
// its payload and headers in blocks, and a Fail with an inline payload. The input is XORed over
// all of it, the connection is pushed on the service's pending stack, and the server works until
// it has nothing left to do; then the client closes its side and the server must let go of the
// connection. The pool is then put back as it was.
//
// Input: a flags byte, then the bytes XORed over the connection block, the client's segment, the
// payload block, the metadata block and the call window. Flags: bits 0-1 choose the ring capacity
// (2, 4, 8, 16); bits 2-3 a number of rounds in which the client publishes its requests again once
// the server has read them; bit 4 makes the client read the responses between rounds (advance its
// consumed counter).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "channel/connection.h"
#include "channel/ring.h"
#include "fuzz_support.h"
#include "notnets/server.h"
#include "pool/call_window.h"
#include "pool/directory.h"
#include "pool/pool_access.h"
#include "pool/process_identity.h"
#include "rpc/buffer_cache.h"
#include "rpc/metadata_codec.h"
#include "rpc/server_runtime.h"

namespace notnets::internal {

// Runs a ServerRuntime's worker steps on the calling thread instead of its worker threads.
class ServerRuntimeFuzzAccess {
 public:
  // Stops the workers Start began; from now on only the caller runs the worker's steps.
  static void StopWorkers(ServerRuntime* runtime) {
    runtime->stopping_.store(true);
    runtime->doorbell_.Ring();
    runtime->worker_pool_->Stop();
    // This thread is worker 0 from now on: its passes count for retired connections.
    runtime->worker_passes_[0].store(runtime->worker_passes_[0].load() &
                                     ~ServerRuntime::kSlotParked);
    runtime->stopping_.store(false);
  }

  // Makes the next pass ask about the clients' processes, as the first pass after a while does.
  static void CheckClientsNow(ServerRuntime* runtime) { runtime->next_client_check_ = {}; }

  // One pass of worker 0 over everything ServerRuntime::WorkerLoop does with what clients
  // wrote: housekeeping (accept, check clients, reclaim), then Poll of every connection, looking
  // for closed ones too (WorkerLoop spreads the polls over hot and cold passes). True if it found
  // work.
  static bool Pass(ServerRuntime* runtime) {
    bool worked = runtime->AcceptPending();
    if (runtime->housekeeping_.TryLock()) {  // only this thread takes it: always
      runtime->CheckClients();
      runtime->housekeeping_.Unlock();
    }
    runtime->ReclaimRetired();
    uint32_t used = runtime->connections_.used();
    for (uint32_t slot = 0; slot < used; ++slot) {
      ServerRuntime::Connection* connection = runtime->connections_.At(slot);
      if (connection != nullptr && runtime->Poll(slot, connection, true, true)) worked = true;
    }
    runtime->worker_passes_[0].fetch_add(1);
    return worked;
  }

  // True if the server holds no connection, not even a retired one.
  static bool HoldsNoConnection(ServerRuntime* runtime) {
    for (uint32_t slot = 0; slot < runtime->connections_.used(); ++slot) {
      if (runtime->connections_.At(slot) != nullptr) return false;
    }
    MutexLock lock(&runtime->retired_mutex_);
    return runtime->retired_.empty();
  }
};

}  // namespace notnets::internal

namespace notnets::fuzz {
namespace {

using internal::ServerRuntimeFuzzAccess;
using internal::Side;

constexpr char kServiceName[] = "fuzz.Connection";
constexpr uint64_t kCallToken = 0x0123456789abcdef;
constexpr int kMaxPassesPerRound = 64;
constexpr uint8_t kClientReadsResponses = 0x10;

// Two mappings of one pool: the server's (0) and the client's (1).
struct World {
  World() : pool("connection", SmallPoolOptions(), 2), service(kServiceName) {
    internal::PoolMapping* server = &pool.mapping(0);
    service.AddMethod("Echo", [server](ServerContext* context, const ReceivedMessage& request,
                                       ServerResponse* response) {
      CheckReceived(*server, request);
      for (const auto& [key, value] : context->client_metadata()) {
        context->AddInitialMetadata(key, value);
        context->AddTrailingMetadata(key, value);
      }
      if (context->IsCancelled()) return Status(StatusCode::CANCELLED, "cancelled");
      response->Copy(request.view());
      return Status::OK;
    });
    service.AddMethod(
        "Fail", [server](ServerContext*, const ReceivedMessage& request, ServerResponse*) {
          CheckReceived(*server, request);
          return Status(StatusCode::FAILED_PRECONDITION, std::string(request.view().substr(0, 64)));
        });
    Status status = internal::ServerRuntime::Start(pool.pool(0), {&service},
                                                   internal::WorkerPolicy{}, &runtime);
    NOTNETS_FUZZ_CHECK(status.ok(), "cannot start the server: " + status.ToString());
    ServerRuntimeFuzzAccess::StopWorkers(runtime.get());
    snapshot = std::make_unique<PoolSnapshot>(server);
  }

  FuzzPool pool;
  Service service;
  std::unique_ptr<internal::ServerRuntime> runtime;
  std::unique_ptr<PoolSnapshot> snapshot;
};

// The client's side of one connection, built as ClientConnection builds it.
struct Client {
  Client(const std::shared_ptr<Pool>& pool, uint32_t capacity)
      : mapping(internal::PoolAccess::mapping(*pool)),
        allocator(&mapping),
        directory(&mapping, &allocator) {
    internal::ServiceView found;
    Status status = directory.Lookup(kServiceName, &found);
    if (status.ok())
      status = internal::CreateConnection(&allocator, capacity, 0, found.ref, ::geteuid(), &view);
    NOTNETS_FUZZ_CHECK(status.ok(), "cannot connect: " + status.ToString());
    service = found.ref;
    cache = std::make_shared<internal::BufferCache>(pool, view.endpoint(Side::kClient), 0);
  }

  // A block holding `bytes`, published to the server.
  uint64_t Publish(const std::string& bytes) {
    uint64_t block;
    Status status = cache->AllocateBlock(bytes.size(), &block);
    NOTNETS_FUZZ_CHECK(status.ok(), "cannot allocate: " + status.ToString());
    std::memcpy(cache->PayloadOf(block), bytes.data(), bytes.size());
    cache->PublishBlock(block, bytes.size(), view.endpoint(Side::kServer));
    return block;
  }

  // Publishes the two well-formed requests; returns their blocks (payload, metadata).
  std::pair<uint64_t, uint64_t> SendRequests() {
    std::string payload(100, 'p');
    uint64_t payload_block = Publish(payload);
    Metadata headers = {
        {"user", "fuzz"},
        {"trace-bin", std::string("\0\1\2", 3)},
        {internal::kCallTokenKey, std::string(reinterpret_cast<const char*>(&kCallToken), 8)}};
    internal::MetadataSet set;
    set.sections[static_cast<int>(internal::MetadataSection::kRequest)] = &headers;
    std::string encoded(internal::EncodedMetadataBytes(set), '\0');
    internal::EncodeMetadata(set, reinterpret_cast<uint8_t*>(encoded.data()));
    uint64_t metadata_block = Publish(encoded);

    internal::Message echo;
    echo.call_id = uint64_t{1} << 32 | 0;
    echo.code = 0;
    echo.flags = static_cast<uint16_t>(internal::DescriptorKind::kRequest) |
                 internal::kPayloadInBlock | internal::kHasMetadata;
    echo.timeout_ns = std::chrono::nanoseconds(std::chrono::seconds(10)).count();
    echo.metadata_offset = metadata_block;
    echo.payload.block = internal::BlockPayload{payload_block, payload.size()};
    internal::Message fail;
    fail.call_id = uint64_t{1} << 32 | 1;
    fail.code = 1;
    fail.flags = static_cast<uint16_t>(internal::DescriptorKind::kRequest);
    fail.inline_length = 6;
    std::memcpy(fail.payload.inline_bytes, "inline", 6);

    internal::RingWriter requests(view.request_slots(), view.capacity,
                                  &view.responses->peer_consumed, &mapping.visibility());
    for (const internal::Message& message : {echo, fail}) {
      uint64_t position;
      NOTNETS_FUZZ_CHECK(requests.TryClaim(&position), "no room in a new request ring");
      requests.Publish(position, message);
    }
    return {payload_block, metadata_block};
  }

  // Pushes the connection on the service's pending stack, keeping the next_pending link it holds.
  void Push() {
    internal::Visibility::Exchange(&directory.entry(service.index)->pending_connections,
                                   view.block_offset);
  }

  // Publishes every request of the ring once more, for the reader's next lap.
  void PublishAgain(uint64_t lap) {
    for (uint32_t i = 0; i < view.capacity; ++i) {
      mapping.visibility().Publish(&view.request_slots()[i].sequence, lap * view.capacity + i + 1);
    }
  }

  // Marks every response the server published as read.
  void ReadResponses() {
    // The server runs in this process: its liveness token is this process's.
    internal::AttachServerSegment(
        mapping.path(), internal::ServerOfConnection{internal::SelfIdentity().token, ::geteuid()},
        &view);
    uint64_t published = 0;
    for (uint32_t i = 0; i < view.capacity; ++i) {
      published =
          std::max(published, mapping.visibility().Consume(&view.response_slots()[i].sequence));
    }
    mapping.visibility().Publish(&view.requests->peer_consumed, published);
  }

  void Close() { mapping.visibility().Publish(&view.requests->closed, internal::kClosedBySender); }

  internal::PoolMapping& mapping;
  internal::Allocator allocator;
  internal::Directory directory;
  internal::ServiceRef service;
  internal::ConnectionView view;
  std::shared_ptr<internal::BufferCache> cache;
};

void RunUntilIdle(internal::ServerRuntime* runtime) {
  for (int pass = 0; pass < kMaxPassesPerRound; ++pass) {
    if (!ServerRuntimeFuzzAccess::Pass(runtime)) return;
  }
}

uint64_t BlockBytesAt(const internal::PoolMapping& mapping, uint64_t block_offset) {
  const auto* block = mapping.At<internal::BlockHeader>(block_offset);
  return internal::BlockBytes(internal::Allocator::SizeClassOf(block));
}

int TestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  internal::ServerRuntime* runtime = world->runtime.get();
  FuzzInput input(data, size);
  uint8_t flags = input.TakeByte();
  uint32_t capacity = 2u << (flags & 3);
  int rounds = (flags >> 2) & 3;
  bool client_reads = flags & kClientReadsResponses;

  Client client(world->pool.pool(1), capacity);
  auto [payload_block, metadata_block] = client.SendRequests();
  internal::PoolMapping& mapping = client.mapping;
  input.XorInto(
      mapping.At<uint8_t>(client.view.block_offset),
      internal::kBlockHeaderBytes + internal::ConnectionGeometry(capacity).payload_bytes());
  input.XorInto(client.view.own->base(), internal::ConnectionGeometry(capacity).requests_bytes());
  input.XorInto(mapping.At<uint8_t>(payload_block), BlockBytesAt(mapping, payload_block));
  input.XorInto(mapping.At<uint8_t>(metadata_block), BlockBytesAt(mapping, metadata_block));
  input.XorInto(mapping.At<uint8_t>(mapping.call_window_offset()),
                uint64_t{mapping.call_window_slots()} * sizeof(internal::CallWindowSlot));

  ServerRuntimeFuzzAccess::CheckClientsNow(runtime);
  client.Push();
  for (int round = 0;; ++round) {
    RunUntilIdle(runtime);
    if (round == rounds) break;
    if (client_reads) client.ReadResponses();
    client.PublishAgain(round + 1);
  }
  client.Close();
  RunUntilIdle(runtime);
  ServerRuntimeFuzzAccess::Pass(runtime);  // reclaims what the last pass retired
  NOTNETS_FUZZ_CHECK(ServerRuntimeFuzzAccess::HoldsNoConnection(runtime),
                     "the server still holds a connection its client closed");
  client.cache.reset();
  world->snapshot->Restore();
  return 0;
}

}  // namespace
}  // namespace notnets::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return notnets::fuzz::TestOneInput(data, size);
}
