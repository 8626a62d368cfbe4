// The eight services of the hotel-reservation graph (DeathStarBench hotelReservation's), as
// ordinary synchronous gRPC services. Each is built from the shared synthetic data; those that
// call others take the channels to them.
#ifndef NOTNETS_APPS_HOTEL_SERVICES_H_
#define NOTNETS_APPS_HOTEL_SERVICES_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/service_type.h>

#include <memory>

#include "cache.h"
#include "dataset.h"

namespace hotel {

// geo: up to five hotels within 10 km of a point, nearest first.
std::unique_ptr<grpc::Service> NewGeoService(const Dataset& data);

// rate: the rate plans of hotels that cover a stay; read through `cache` unless it is null.
std::unique_ptr<grpc::Service> NewRateService(const Dataset& data, Cache* cache);

// search: geo's nearby hotels that rate has plans for.
std::unique_ptr<grpc::Service> NewSearchService(std::shared_ptr<grpc::Channel> geo,
                                                std::shared_ptr<grpc::Channel> rate);

// profile: hotel profiles by id; read through `cache` unless it is null.
std::unique_ptr<grpc::Service> NewProfileService(const Dataset& data, Cache* cache);

// recommendation: the best hotels by distance, rating or price.
std::unique_ptr<grpc::Service> NewRecommendationService(const Dataset& data);

// user: password checks.
std::unique_ptr<grpc::Service> NewUserService(const Dataset& data);

// reservation: availability and bookings, in memory, of each hotel's rooms per night.
std::unique_ptr<grpc::Service> NewReservationService(const Dataset& data);

// The channels the frontend calls through.
struct FrontendPeers {
  std::shared_ptr<grpc::Channel> search, reservation, profile, recommendation, user;
};

// frontend: the users' requests, each a walk through the services above.
std::unique_ptr<grpc::Service> NewFrontendService(const FrontendPeers& peers);

}  // namespace hotel

#endif  // NOTNETS_APPS_HOTEL_SERVICES_H_
