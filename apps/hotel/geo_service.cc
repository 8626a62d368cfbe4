// geo: a scan over every hotel's location. The original keeps a geo index; with a hundred
// hotels a scan costs about as much, and keeps the answer exact.
#include <algorithm>
#include <utility>
#include <vector>

#include "call_context.h"
#include "geo.grpc.pb.h"
#include "geometry.h"
#include "services.h"

namespace hotel {
namespace {

constexpr double kRadiusKm = 10;
constexpr size_t kMaxResults = 5;

class GeoService final : public hotel::geo::Geo::Service {
 public:
  explicit GeoService(const Dataset& data) : hotels_(data.hotels) {}

  grpc::Status Nearby(grpc::ServerContext* context, const hotel::geo::NearbyRequest* request,
                      hotel::geo::NearbyResult* result) override {
    grpc::Status traced = RequireTraceId(*context);
    if (!traced.ok()) return traced;
    std::vector<std::pair<double, size_t>> near;
    for (size_t i = 0; i < hotels_.size(); ++i) {
      double km = DistanceKm(request->lat(), request->lon(), hotels_[i].lat, hotels_[i].lon);
      if (km <= kRadiusKm) near.emplace_back(km, i);
    }
    size_t count = std::min(near.size(), kMaxResults);
    std::partial_sort(near.begin(), near.begin() + count, near.end());
    for (size_t i = 0; i < count; ++i) result->add_hotel_ids(hotels_[near[i].second].id);
    return grpc::Status::OK;
  }

 private:
  const std::vector<HotelRecord> hotels_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewGeoService(const Dataset& data) {
  return std::make_unique<GeoService>(data);
}

}  // namespace hotel
