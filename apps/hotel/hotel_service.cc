// One service of the hotel-reservation graph, as a process of its own:
//
//   hotel_service --service NAME [--transport pool|http2] [--pool NAME] [--port-base N]
//                 [--seed N] [--hotels N] [--threads N] [--memcached HOST:PORT] [--tag TEXT]
//
// NAME is frontend, search, geo, rate, profile, recommendation, user or reservation. Over the
// pool (the default) every call goes through the pool NAME (default "hotel") and the service
// opens no port; over http2, service i of deployment.h's order listens on 127.0.0.1:<port-base +
// i> and calls the others there. With --memcached, profile and rate read their data through
// that memcached (cache.h); the others ignore it. --tag is not read: it marks the processes of one
// run, so that the load generator can find them to add up their CPU time. Serves until SIGINT or
// SIGTERM.
#include <signal.h>

#include <cstdio>

#include "dataset.h"
#include "deployment.h"
#include "flags.h"
#include "services.h"

namespace {

std::unique_ptr<grpc::Service> NewService(hotel::ServiceId id, const hotel::Dataset& data,
                                          const hotel::Deployment& deployment,
                                          hotel::Cache* cache) {
  using hotel::ServiceId;
  switch (id) {
    case ServiceId::kFrontend:
      return hotel::NewFrontendService({hotel::Connect(deployment, ServiceId::kSearch),
                                        hotel::Connect(deployment, ServiceId::kReservation),
                                        hotel::Connect(deployment, ServiceId::kProfile),
                                        hotel::Connect(deployment, ServiceId::kRecommendation),
                                        hotel::Connect(deployment, ServiceId::kUser)});
    case ServiceId::kSearch:
      return hotel::NewSearchService(hotel::Connect(deployment, ServiceId::kGeo),
                                     hotel::Connect(deployment, ServiceId::kRate));
    case ServiceId::kGeo:
      return hotel::NewGeoService(data);
    case ServiceId::kRate:
      return hotel::NewRateService(data, cache);
    case ServiceId::kProfile:
      return hotel::NewProfileService(data, cache);
    case ServiceId::kRecommendation:
      return hotel::NewRecommendationService(data);
    case ServiceId::kUser:
      return hotel::NewUserService(data);
    case ServiceId::kReservation:
      return hotel::NewReservationService(data);
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  hotel::Flags flags;
  if (!flags.Parse(argc, argv)) return 2;
  hotel::ServiceId id;
  if (!hotel::ParseServiceId(flags.String("service", ""), &id)) {
    std::fprintf(stderr,
                 "usage: %s --service frontend|search|geo|rate|profile|recommendation|"
                 "user|reservation [--transport pool|http2] [--pool NAME] [--port-base N] "
                 "[--seed N] [--hotels N] [--threads N]\n",
                 argv[0]);
    return 2;
  }
  hotel::Deployment deployment;
  deployment.over_pool = flags.String("transport", "pool") == "pool";
  deployment.pool = flags.String("pool", "hotel");
  deployment.port_base = static_cast<int>(flags.Int("port-base", 50100));

  // Blocked before any thread starts, so that every thread leaves them to sigwait below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  hotel::Dataset data = hotel::MakeDataset(static_cast<uint64_t>(flags.Int("seed", 1)),
                                           static_cast<int>(flags.Int("hotels", 80)));
  // Only profile and rate read through memcached, as in the original.
  std::unique_ptr<hotel::Cache> cache;
  std::string memcached = flags.String("memcached", "");
  if (!memcached.empty() && (id == hotel::ServiceId::kProfile || id == hotel::ServiceId::kRate)) {
    cache = hotel::ConnectMemcached(memcached);
    if (!cache) return 1;
  }
  std::unique_ptr<grpc::Service> service = NewService(id, data, deployment, cache.get());
  std::unique_ptr<grpc::Server> server =
      hotel::Serve(deployment, id, service.get(), static_cast<int>(flags.Int("threads", 2)));
  if (!server) {
    std::fprintf(stderr, "hotel_service: %s did not start\n", hotel::NameOf(id));
    return 1;
  }
  std::printf("%s serving %s\n", hotel::NameOf(id),
              deployment.over_pool ? ("over pool " + deployment.pool).c_str() : "over HTTP/2");
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop, &signal);
  server->Shutdown();
  return 0;
}
