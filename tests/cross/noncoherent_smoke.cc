// Cross-built for another architecture (scripts/check-cross.sh) and run under qemu-user: shows
// that the cache-maintenance instructions of pool/cache_lines.cc run in user mode there and that
// calls over a pool in CoherenceMode::kWriteBackInvalidate, which executes them on every
// publish and consume, return what was sent. Exits 0 on success; prints what failed otherwise.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "notnets/channel.h"
#include "notnets/pool.h"
#include "notnets/server.h"
#include "pool/cache_lines.h"

namespace {

int Fail(const char* what, const notnets::Status& status) {
  std::fprintf(stderr, "noncoherent_smoke: %s: %s\n", what, status.ToString().c_str());
  return 1;
}

// Written, written back, dropped from the cache, then read again: the bytes must survive.
bool CacheLinesKeepBytes() {
  std::vector<unsigned char> bytes(4096 + 37);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(i * 7);
  notnets::internal::WriteBackCacheLines(bytes.data() + 3, bytes.size() - 3);
  notnets::internal::InvalidateCacheLines(bytes.data() + 1, bytes.size() - 1);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != static_cast<unsigned char>(i * 7)) return false;
  }
  return true;
}

}  // namespace

int main() {
  std::printf("cache line instructions: %s\n", notnets::internal::CacheLineInstructions());
  if (!CacheLinesKeepBytes()) {
    std::fprintf(stderr, "noncoherent_smoke: bytes changed by write-back and invalidate\n");
    return 1;
  }
  std::string name = "notnets-cross-smoke-" + std::to_string(getpid());
  notnets::PoolOptions pool_options;
  pool_options.size_bytes = 16 << 20;
  pool_options.coherence = notnets::CoherenceMode::kWriteBackInvalidate;
  std::shared_ptr<notnets::Pool> pool;
  notnets::Status status = notnets::Pool::Create(name, pool_options, &pool);
  if (!status.ok()) return Fail("create the pool", status);
  std::string path = pool->path();
  int result = [&] {
    notnets::Service service("smoke.Echo");
    service.AddMethod("Echo", [](notnets::ServerContext*, const notnets::ReceivedMessage& request,
                                 notnets::ServerResponse* response) {
      response->Copy(request.view());
      return notnets::Status::OK;
    });
    std::unique_ptr<notnets::Server> server;
    notnets::Status started =
        notnets::ServerBuilder(pool).RegisterService(&service).BuildAndStart(&server);
    if (!started.ok()) return Fail("start the server", started);
    std::shared_ptr<notnets::Channel> channel;
    notnets::Status connected = notnets::Channel::Connect(pool, "smoke.Echo", {}, &channel);
    if (!connected.ok()) return Fail("connect", connected);
    for (size_t size : {size_t{1}, size_t{100}, size_t{5000}, size_t{300000}}) {
      std::string request(size, '\0');
      for (size_t i = 0; i < size; ++i) request[i] = static_cast<char>('a' + (i * 13 + size) % 26);
      std::string response;
      notnets::ClientContext context;
      context.set_timeout(std::chrono::seconds(30));
      notnets::Status called = channel->Call("Echo", request, &response, &context);
      if (!called.ok()) return Fail("call", called);
      if (response != request) {
        std::fprintf(stderr, "noncoherent_smoke: a %zu-byte echo came back different\n", size);
        return 1;
      }
    }
    channel.reset();
    server->Shutdown();
    std::printf("4 calls over a non-coherent pool: ok\n");
    return 0;
  }();
  pool.reset();
  notnets::Pool::Remove(path);
  return result;
}
