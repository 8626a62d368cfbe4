// Where the services are and how they talk: every hop over the memory pool, or every hop over
// gRPC HTTP/2 on loopback. The service code is the same either way; only this file's channel
// and server set-up differ, as a gRPC user's would.
#ifndef NOTNETS_APPS_HOTEL_DEPLOYMENT_H_
#define NOTNETS_APPS_HOTEL_DEPLOYMENT_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>

namespace hotel {

// The services of the graph; the order fixes their HTTP/2 ports.
enum class ServiceId {
  kFrontend,
  kSearch,
  kGeo,
  kRate,
  kProfile,
  kRecommendation,
  kUser,
  kReservation
};
inline constexpr int kServiceCount = 8;

// The service's name on the command line ("frontend", "geo", ...).
const char* NameOf(ServiceId id);
// The service named `name`; false if there is none.
bool ParseServiceId(const std::string& name, ServiceId* id);

// How the services reach one another.
struct Deployment {
  // True: every call through the pool `pool` (no HTTP/2 port at all); false: HTTP/2 to
  // 127.0.0.1:<port_base + service index>.
  bool over_pool = true;
  std::string pool;
  int port_base = 0;
  // Most calls a channel keeps in flight through the pool.
  uint32_t max_outstanding_calls = 128;
};

// A channel to service `id`.
std::shared_ptr<grpc::Channel> Connect(const Deployment& deployment, ServiceId id);

// Starts a server for `service` as service `id`, with `threads` threads serving calls; null
// when it could not start (gRPC has logged why).
std::unique_ptr<grpc::Server> Serve(const Deployment& deployment, ServiceId id,
                                    grpc::Service* service, int threads);

}  // namespace hotel

#endif  // NOTNETS_APPS_HOTEL_DEPLOYMENT_H_
