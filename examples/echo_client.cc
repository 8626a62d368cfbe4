// Calls "example.Echo" in a pool: the native API's client side.
//
//   echo_client [POOL] [MESSAGE]
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "notnets/channel.h"
#include "notnets/pool.h"

int main(int argc, char** argv) {
  std::string pool_name = argc > 1 ? argv[1] : "";
  std::string message = argc > 2 ? argv[2] : "hello world";
  std::shared_ptr<notnets::Pool> pool;
  notnets::Status status = notnets::Pool::Attach(pool_name, &pool);
  std::shared_ptr<notnets::Channel> channel;
  if (status.ok()) {
    notnets::ChannelOptions options;
    options.wait_for_service = std::chrono::seconds(5);
    status = notnets::Channel::Connect(pool, "example.Echo", options, &channel);
  }
  if (!status.ok()) {
    std::fprintf(stderr, "echo_client: %s\n", status.ToString().c_str());
    return 1;
  }
  notnets::ClientContext context;
  context.set_timeout(std::chrono::seconds(1));
  context.AddMetadata("user", "example");
  std::string response;
  status = channel->Call("Echo", message, &response, &context);
  if (!status.ok()) {
    std::fprintf(stderr, "echo_client: %s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("response: %s (peer %s)\n", response.c_str(), context.peer().c_str());
  for (const auto& [key, value] : context.GetServerTrailingMetadata()) {
    std::printf("trailer:  %s = %s\n", key.c_str(), value.c_str());
  }
  return 0;
}
