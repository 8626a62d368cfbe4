// directory_fuzzer: the service directory as anyone who can open the pool could leave it.
//
// Proves: with arbitrary bytes in the directory entries (state, pending stack, server identity,
// method table offset, name, doorbell words) and in the heap blocks that hold the method tables,
// Directory::Lookup, Pool::Stats, Channel::Connect and a new server's Directory::Register neither
// crash nor leave the pool's bounds, and a service that Lookup accepts has a well-formed method
// table.
//
// Input: a flags byte, then bytes XORed over the directory (4 entries, two of them registered:
// "fuzz.A" with three methods, "fuzz.B" with one, ringing A's doorbell) and over the heap that
// holds their method tables. Flags: bit 0 connects to fuzz.B instead of fuzz.A; bit 1 registers a
// new service, named fuzz.A instead of fuzz.C with bit 2.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "notnets/channel.h"
#include "pool/allocator.h"
#include "pool/directory.h"

namespace notnets::fuzz {
namespace {

constexpr uint8_t kConnectToB = 1;
constexpr uint8_t kRegister = 2;
constexpr uint8_t kRegisterA = 4;

// Two mappings of one pool: the server's (0), which registers the services, and a client's (1).
struct World {
  World() : pool("directory", SmallPoolOptions(), 2), allocator(&pool.mapping(0)) {
    internal::Directory directory(&pool.mapping(0), &allocator);
    internal::ServiceRef a;
    internal::ServiceRef b;
    Status status = directory.Register("fuzz.A", {"Echo", "Status", "Stream"},
                                       internal::Directory::kOwnDoorbell, &a);
    if (status.ok()) status = directory.Register("fuzz.B", {"Only"}, a.index, &b);
    NOTNETS_FUZZ_CHECK(status.ok(), "cannot register: " + status.ToString());
    snapshot = std::make_unique<PoolSnapshot>(&pool.mapping(0));
  }

  FuzzPool pool;
  internal::Allocator allocator;
  std::unique_ptr<PoolSnapshot> snapshot;
};

void Lookup(internal::PoolMapping& mapping, const std::string& name) {
  internal::Allocator allocator(&mapping);
  internal::Directory directory(&mapping, &allocator);
  internal::ServiceView view;
  if (!directory.Lookup(name, &view).ok()) return;
  NOTNETS_FUZZ_CHECK(view.ref.index < mapping.max_services(), "a service outside the directory");
  NOTNETS_FUZZ_CHECK(view.methods.size() <= internal::kMaxMethodsPerService,
                     std::to_string(view.methods.size()) + " methods");
  for (const std::string& method : view.methods) {
    NOTNETS_FUZZ_CHECK(!method.empty() && method.size() <= internal::kMaxMethodNameBytes,
                       "a method name of " + std::to_string(method.size()) + " bytes");
  }
}

int TestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  internal::PoolMapping& server = world->pool.mapping(0);
  internal::PoolMapping& client = world->pool.mapping(1);

  FuzzInput input(data, size);
  uint8_t flags = input.TakeByte();
  input.XorInto(server.At<uint8_t>(server.directory_offset()),
                uint64_t{server.max_services()} * sizeof(internal::ServiceEntry));
  uint64_t heap_top = server.header()->allocator.heap_top.load();
  input.XorInto(server.At<uint8_t>(server.heap_offset()), heap_top - server.heap_offset());

  Lookup(client, "fuzz.A");
  Lookup(client, "fuzz.B");
  world->pool.pool(1)->Stats();
  ChannelOptions options;
  options.max_outstanding_calls = 2;
  std::shared_ptr<Channel> channel;
  Channel::Connect(world->pool.pool(1), flags & kConnectToB ? "fuzz.B" : "fuzz.A", options,
                   &channel);
  channel.reset();
  if (flags & kRegister) {
    internal::Directory directory(&server, &world->allocator);
    internal::ServiceRef ref;
    if (directory
            .Register(flags & kRegisterA ? "fuzz.A" : "fuzz.C", {"New"},
                      internal::Directory::kOwnDoorbell, &ref)
            .ok()) {
      world->pool.pool(0)->Stats();
      directory.Unregister(ref);
    }
  }
  world->snapshot->Restore();
  return 0;
}

}  // namespace
}  // namespace notnets::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return notnets::fuzz::TestOneInput(data, size);
}
