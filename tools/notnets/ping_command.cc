#include "ping_command.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "arguments.h"
#include "health.grpc.pb.h"
#include "notnets/grpc/channel.h"
#include "pool_option.h"
#include "pool_watch.h"
#include "tool_output.h"

namespace notnets::tool {

namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

struct PingArguments {
  std::string pool;
  std::string service;
  double timeout_seconds = 1;
};

int Answer(int code, const std::string& what) {
  std::printf("%s\n", what.c_str());
  return code;
}

int Ping(const PingArguments& arguments) {
  PoolWatch watch;
  Status status = watch.Open(arguments.pool);
  if (!status.ok()) return Fail(status);
  // The directory answers first: the health service of another server cannot say whether this
  // one's process is alive. The empty name asks about the server as a whole, as in gRPC.
  if (!arguments.service.empty()) {
    const internal::ServiceReport* found = nullptr;
    std::vector<internal::ServiceReport> reports = watch.Read();
    for (const internal::ServiceReport& report : reports) {
      if (report.name == arguments.service && report.server_alive &&
          (found == nullptr || found->closing)) {
        found = &report;
      }
    }
    if (found == nullptr) {
      return Answer(kExitAbsent, "ABSENT: no live server of '" + arguments.service + "' in pool " +
                                     watch.path());
    }
    if (found->closing) return Answer(kExitNotServing, "NOT_SERVING: its server is shutting down");
  }
  notnets::grpc::ChannelOptions options;
  options.pool = arguments.pool;
  // No target: the check goes through the pool or fails, never over the network.
  std::unique_ptr<Health::Stub> stub = Health::NewStub(notnets::grpc::CreateChannel("", options));
  ::grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(
                           std::chrono::duration<double>(arguments.timeout_seconds)));
  HealthCheckRequest request;
  request.set_service(arguments.service);
  HealthCheckResponse response;
  ::grpc::Status checked = stub->Check(&context, request, &response);
  if (checked.error_code() == ::grpc::StatusCode::NOT_FOUND) {
    return Answer(kExitAbsent,
                  "ABSENT: the health service does not know '" + arguments.service + "'");
  }
  if (!checked.ok()) {
    return Fail(Status(
        static_cast<StatusCode>(checked.error_code()),
        "health check through pool " + watch.path() + " failed: " + checked.error_message()));
  }
  switch (response.status()) {
    case HealthCheckResponse::SERVING:
      return Answer(kExitServing, "SERVING");
    case HealthCheckResponse::SERVICE_UNKNOWN:
      return Answer(kExitAbsent, "SERVICE_UNKNOWN");
    default:
      return Answer(kExitNotServing, HealthCheckResponse::ServingStatus_Name(response.status()));
  }
}

}  // namespace

void AddPingCommand(CLI::App* app, int* exit_code) {
  auto arguments = std::make_shared<PingArguments>();
  CLI::App* ping = app->add_subcommand(
      "ping",
      "Check a service's health through the pool (grpc.health.v1.Health/Check). Exit code 0: "
      "SERVING; 1: the check failed; 3: no such service; 4: NOT_SERVING");
  AddPoolOption(ping, &arguments->pool);
  ping->add_option("SERVICE", arguments->service,
                   "The service to ask about; empty ('') for the server as a whole")
      ->required();
  ping->add_option("--timeout", arguments->timeout_seconds,
                   "Seconds to wait for the answer, up to an hour")
      ->check(Seconds());
  ping->callback([arguments, exit_code] { *exit_code = Ping(*arguments); });
}

}  // namespace notnets::tool
