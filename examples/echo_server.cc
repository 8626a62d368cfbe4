// Serves "example.Echo" in a pool until interrupted: the native API's server side.
//
//   echo_server [POOL]      (POOL defaults to $NOTNETS_POOL, then "default")
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>

#include "notnets/pool.h"
#include "notnets/server.h"

namespace {
std::atomic<bool> interrupted{false};
}  // namespace

int main(int argc, char** argv) {
  std::string pool_name = argc > 1 ? argv[1] : "";
  std::shared_ptr<notnets::Pool> pool;
  notnets::Status status = notnets::Pool::AttachOrCreate(pool_name, notnets::PoolOptions(), &pool);
  if (!status.ok()) {
    std::fprintf(stderr, "echo_server: %s\n", status.ToString().c_str());
    return 1;
  }

  notnets::Service echo("example.Echo");
  echo.AddMethod("Echo",
                 [](notnets::ServerContext* context, const notnets::ReceivedMessage& request,
                    notnets::ServerResponse* response) {
                   for (const auto& [key, value] : context->client_metadata()) {
                     context->AddTrailingMetadata("echo-" + key, value);
                   }
                   response->Copy(request.view());
                   return notnets::Status::OK;
                 });

  std::unique_ptr<notnets::Server> server;
  status = notnets::ServerBuilder(pool).RegisterService(&echo).BuildAndStart(&server);
  if (!status.ok()) {
    std::fprintf(stderr, "echo_server: %s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("serving example.Echo in %s; Ctrl-C stops\n", pool->path().c_str());
  std::fflush(stdout);
  std::signal(SIGINT, [](int) { interrupted = true; });
  std::signal(SIGTERM, [](int) { interrupted = true; });
  while (!interrupted) pause();
  server->Shutdown();
  return 0;
}
