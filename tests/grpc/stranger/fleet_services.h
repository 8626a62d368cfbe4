// acme.fleet.v2.Fleet and acme.fleet.v2.Depot (fleet.proto) on every kind of gRPC service, doing
// what each request asks, so that the stranger suite can compare the pool with HTTP/2 on each.
#ifndef NOTNETS_TESTS_GRPC_STRANGER_FLEET_SERVICES_H_
#define NOTNETS_TESTS_GRPC_STRANGER_FLEET_SERVICES_H_

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fleet.grpc.pb.h"

namespace notnets::stranger {

using ::acme::fleet::v2::Depot;
using ::acme::fleet::v2::Depot_Stub;
using ::acme::fleet::v2::Fleet;
using ::acme::fleet::v2::Nothing;
using ::acme::fleet::v2::Vehicle;
using ::acme::fleet::v2::VehicleQuery;

// How the two services are served.
enum class Flavor {
  // Fleet::Service and Depot::Service.
  kSync,
  // Fleet::CallbackService and Depot::CallbackService.
  kCallback,
  // Fleet::StreamedService (every unary method streamed, Watch split) and Depot::StreamedService.
  kStreamed,
  // Fleet::Service with Now on a completion queue, Convoy a callback method and Describe_3 a raw
  // callback method; Depot::AsyncService.
  kMixed,
  // A CallbackGenericService serving both by full method name, and no typed service.
  kGeneric,
};

// A vehicle that uses every kind of field, with two chunks of `chunk_bytes` bytes that depend on
// `id`, so that a message cut or mixed up with another does not compare equal.
Vehicle MakeVehicle(const std::string& id, uint32_t chunk_bytes);
// What Now and Describe_3 answer.
::google::protobuf::Timestamp NowValue();
::google::protobuf::Struct DescribeValue();

// The services of one flavour, registered on a builder; owns the completion-queue thread of
// those that need one.
class FleetServers {
 public:
  explicit FleetServers(Flavor flavor);
  ~FleetServers();
  FleetServers(const FleetServers&) = delete;
  FleetServers& operator=(const FleetServers&) = delete;

  // Registers both services on `builder`, before it builds the server.
  void Register(::grpc::ServerBuilder* builder);
  // Starts serving the completion-queue methods once the server started.
  void Started();
  // Ends the completion-queue thread; after the server's Shutdown().
  void Stop();

 private:
  Flavor flavor_;
  std::vector<std::unique_ptr<::grpc::Service>> services_;
  std::unique_ptr<::grpc::CallbackGenericService> generic_;
  std::unique_ptr<::grpc::ServerCompletionQueue> queue_;
  std::thread queue_thread_;
};

}  // namespace notnets::stranger

#endif  // NOTNETS_TESTS_GRPC_STRANGER_FLEET_SERVICES_H_
