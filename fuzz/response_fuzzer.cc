// response_fuzzer: a server that writes anything into its responses, against a real client.
//
// Proves: whatever a server writes in the response area of a connection (direction header and
// response descriptors), in the blocks its responses name (headers with their ownership words,
// payload, metadata encoding) and in the connection's lifecycle word, a Channel's call ends with a
// status and does not hang, the message it hands the caller lies inside a block sent to it, and
// the client crashes neither while draining (DrainResponses, Finish, Discard), nor when it reuses
// the blocks it took for its next request, nor when it leaves the connection.
//
// This thread plays the server: it registers a service in the directory, takes the connection a
// real Channel pushes, and writes responses the way the server does (BufferCache blocks published
// to the client, RingWriter descriptors) before the call: `count` responses to the call that will
// be made (a payload block and a metadata block) with the input XORed over them, then, unless the
// input withholds it, a final well-formed response that ends the call at once. A fresh connection
// gives its first call slot 0, generation 1, so the responses know the call id in advance (checked
// against the request afterwards). If the call was answered on this connection, a second call
// follows, answered well: its request (300 zero bytes) goes into a block from the client's cache,
// where the blocks it took from the server went.
//
// Input: a flags byte, then the bytes XORed over the lifecycle word, the responses' direction
// header, the bodies of the `count` response descriptors (not their sequence words), the payload
// block and the metadata block. Flags: bit 0 makes an asynchronous call; bit 1 withholds the final
// response (the call then ends at a short deadline); bits 2-3 choose the ring capacity (2, 4, 8,
// 16); bits 4-6 the count, modulo the capacity; bit 7 makes the call at-most-once (the channel
// may then retry it on a new connection).
#include <chrono>
#include <cstdint>
#include <cstring>
#include <future>
#include <memory>
#include <string>

#include "channel/connection.h"
#include "channel/ring.h"
#include "fuzz_support.h"
#include "notnets/channel.h"
#include "pool/directory.h"
#include "rpc/buffer_cache.h"
#include "rpc/metadata_codec.h"

namespace notnets::fuzz {
namespace {

using internal::Side;

constexpr char kServiceName[] = "fuzz.Response";
constexpr uint8_t kAsync = 1;
constexpr uint8_t kWithholdFinal = 2;
constexpr uint8_t kAtMostOnce = 0x80;
// The deadline of a call that has a well-formed response waiting: lasting that long is a hang.
constexpr auto kHangBound = std::chrono::seconds(5);
// The deadline of a call that cannot be answered.
constexpr auto kNoAnswerDeadline = std::chrono::microseconds(200);
// The call id of the first call on a new connection: slot 0, generation 1; then slot 0 again.
constexpr uint64_t kFirstCallId = uint64_t{1} << 32;
constexpr uint64_t kSecondCallId = uint64_t{2} << 32;

// Two mappings of one pool: the server's (0), where the service is registered, and the
// client's (1).
struct World {
  World() : pool("response", SmallPoolOptions(), 2), allocator(&pool.mapping(0)) {
    internal::Directory directory(&pool.mapping(0), &allocator);
    Status status =
        directory.Register(kServiceName, {"Echo"}, internal::Directory::kOwnDoorbell, &service);
    NOTNETS_FUZZ_CHECK(status.ok(), "cannot register: " + status.ToString());
    snapshot = std::make_unique<PoolSnapshot>(&pool.mapping(0));
  }

  FuzzPool pool;
  internal::Allocator allocator;
  internal::ServiceRef service;
  std::unique_ptr<PoolSnapshot> snapshot;
};

// The server's side of the connection the client pushed.
struct Server {
  explicit Server(World* world) : world(world), mapping(world->pool.mapping(0)) {
    internal::Directory directory(&mapping, &world->allocator);
    uint64_t offset = internal::Visibility::Exchange(
        &directory.entry(world->service.index)->pending_connections, 0);
    NOTNETS_FUZZ_CHECK(internal::OpenConnection(world->allocator, offset, world->service, &view),
                       "the client's connection does not open");
    Status accepted = internal::AcceptSegments(mapping.path(), &view);
    NOTNETS_FUZZ_CHECK(accepted.ok(),
                       "cannot map the connection's segments: " + accepted.ToString());
    cache = std::make_shared<internal::BufferCache>(world->pool.pool(0),
                                                    view.endpoint(Side::kServer), 0);
  }

  // A block holding `bytes`, published to the client.
  uint64_t Publish(const std::string& bytes) {
    uint64_t block;
    Status status = cache->AllocateBlock(bytes.size(), &block);
    NOTNETS_FUZZ_CHECK(status.ok(), "cannot allocate: " + status.ToString());
    std::memcpy(cache->PayloadOf(block), bytes.data(), bytes.size());
    cache->PublishBlock(block, bytes.size(), view.endpoint(Side::kClient));
    return block;
  }

  uint64_t BlockBytes(uint64_t block_offset) const {
    const auto* block = mapping.At<internal::BlockHeader>(block_offset);
    return internal::BlockBytes(internal::Allocator::SizeClassOf(block));
  }

  // Leaves the connection, as a server that shuts down does.
  void Leave() {
    mapping.visibility().Publish(&view.responses->closed, internal::kClosedBySender);
    cache.reset();
    internal::DetachConnection(&world->allocator, view, Side::kServer);
  }

  World* world;
  internal::PoolMapping& mapping;
  internal::ConnectionView view;
  std::shared_ptr<internal::BufferCache> cache;
};

std::string EncodedResponseMetadata() {
  std::string status_message = "status message";
  Metadata initial = {{"initial", "1"}};
  Metadata trailing = {{"trailer-bin", std::string("\0\1\2", 3)}};
  internal::MetadataSet set;
  set.status_message = &status_message;
  set.sections[static_cast<int>(internal::MetadataSection::kInitial)] = &initial;
  set.sections[static_cast<int>(internal::MetadataSection::kTrailing)] = &trailing;
  std::string encoded(internal::EncodedMetadataBytes(set), '\0');
  internal::EncodeMetadata(set, reinterpret_cast<uint8_t*>(encoded.data()));
  return encoded;
}

// Makes the call; returns its status and checks the message it returned.
Status Call(World* world, Channel* channel, bool async, ClientContext* context) {
  internal::PoolMapping& mapping = world->pool.mapping(1);
  if (async) {
    std::future<CallResult> result = channel->CallAsync("Echo", "request", context);
    NOTNETS_FUZZ_CHECK(
        result.wait_for(kHangBound + std::chrono::seconds(1)) == std::future_status::ready,
        "an asynchronous call did not end");
    CallResult done = result.get();
    CheckReceived(mapping, done.response);
    return done.status;
  }
  MessageBuffer request;
  Status status = channel->AllocateMessage(7, &request);
  NOTNETS_FUZZ_CHECK(status.ok(), "cannot allocate: " + status.ToString());
  std::memcpy(request.data(), "request", 7);
  ReceivedMessage response;
  status = channel->Call("Echo", std::move(request), &response, context);
  CheckReceived(mapping, response);
  return status;
}

// A well-formed response to `call_id`, inline.
internal::Message InlineResponse(uint64_t call_id) {
  internal::Message response;
  response.call_id = call_id;
  response.flags = static_cast<uint16_t>(internal::DescriptorKind::kResponse);
  response.inline_length = 5;
  std::memcpy(response.payload.inline_bytes, "final", 5);
  return response;
}

// The second call: its answer is published first, then the call must end with it.
void SecondCall(const internal::ConnectionView& view, internal::RingWriter* responses,
                Channel* channel) {
  uint64_t position;
  NOTNETS_FUZZ_CHECK(responses->TryClaim(&position), "no room for the second response");
  responses->Publish(position, InlineResponse(kSecondCallId));
  ClientContext context;
  context.set_timeout(kHangBound);
  std::string response;
  Status status = channel->Call("Echo", std::string(300, '\0'), &response, &context);
  NOTNETS_FUZZ_CHECK(status.ok() && response == "final",
                     "a well-formed second response gave " + status.ToString());
  const internal::Descriptor& request = view.request_slots()[1];
  NOTNETS_FUZZ_CHECK(request.sequence.load() == 2 && request.call_id == kSecondCallId,
                     "the harness no longer knows the call id of a connection's second call");
}

int TestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  FuzzInput input(data, size);
  uint8_t flags = input.TakeByte();
  uint32_t capacity = 2u << ((flags >> 2) & 3);
  uint32_t count = ((flags >> 4) & 7) % capacity;

  ChannelOptions options;
  options.max_outstanding_calls = capacity;
  // The responses are pool blocks with headers this fuzzer lays out: a connection without arenas.
  options.connection_arena_bytes = 0;
  std::shared_ptr<Channel> channel;
  Status status = Channel::Connect(world->pool.pool(1), kServiceName, options, &channel);
  NOTNETS_FUZZ_CHECK(status.ok(), "cannot connect: " + status.ToString());
  Server server(world);

  uint64_t payload_block = server.Publish(std::string(100, 'r'));
  uint64_t metadata_block = server.Publish(EncodedResponseMetadata());
  internal::Message response;
  response.call_id = kFirstCallId;
  response.flags = static_cast<uint16_t>(internal::DescriptorKind::kResponse) |
                   internal::kPayloadInBlock | internal::kHasMetadata;
  response.metadata_offset = metadata_block;
  response.payload.block = internal::BlockPayload{payload_block, 100};

  internal::ConnectionView& view = server.view;
  internal::RingWriter responses(view.response_slots(), capacity, &view.requests->peer_consumed,
                                 &server.mapping.visibility());
  uint64_t position;
  for (uint32_t i = 0; i < count && responses.TryClaim(&position); ++i) {
    responses.Publish(position, response);
  }
  bool withhold = flags & kWithholdFinal;
  if (!withhold && responses.TryClaim(&position)) {
    responses.Publish(position, InlineResponse(kFirstCallId));
  }

  input.XorInto(&view.header->lifecycle, sizeof(view.header->lifecycle));
  input.XorInto(view.responses, sizeof(*view.responses));
  for (uint32_t i = 0; i < count; ++i) {
    input.XorInto(reinterpret_cast<uint8_t*>(&view.response_slots()[i]) + sizeof(uint64_t),
                  sizeof(internal::Message));
  }
  input.XorInto(server.mapping.At<uint8_t>(payload_block), server.BlockBytes(payload_block));
  input.XorInto(server.mapping.At<uint8_t>(metadata_block), server.BlockBytes(metadata_block));

  // A closed response direction makes the channel connect again, to a connection nobody serves;
  // so does a lifecycle word that says the server left, or hides that its segment is ready (the
  // client then never maps it: a party that can write the word can deny the connection).
  uint64_t lifecycle = view.header->lifecycle.load();
  bool answerable = !withhold && view.responses->closed.load() == internal::kOpen &&
                    (lifecycle & (internal::kServerSegmentReady | internal::kServerDetached)) ==
                        internal::kServerSegmentReady;
  ClientContext context;
  context.set_at_most_once(flags & kAtMostOnce);
  if (answerable) {
    context.set_timeout(kHangBound);
  } else {
    context.set_timeout(kNoAnswerDeadline);
  }
  auto start = std::chrono::steady_clock::now();
  status = Call(world, channel.get(), flags & kAsync, &context);
  if (answerable) {
    NOTNETS_FUZZ_CHECK(
        std::chrono::steady_clock::now() - start < kHangBound,
        "the call waited for its deadline with a response ready: " + status.ToString());
    const internal::Descriptor& request = view.request_slots()[0];
    NOTNETS_FUZZ_CHECK(request.sequence.load() == 1 && request.call_id == kFirstCallId,
                       "the harness no longer knows the call id of a connection's first call");
    // A client that found garbage marks the connection (MarkForSweep) and connects elsewhere.
    if ((view.header->lifecycle.load() & internal::kSweepOnFree) == 0) {
      SecondCall(view, &responses, channel.get());
    }
  }

  server.Leave();
  channel.reset();
  world->snapshot->Restore();
  return 0;
}

}  // namespace
}  // namespace notnets::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return notnets::fuzz::TestOneInput(data, size);
}
