// recommendation: a scan over every hotel for the best by the criterion asked.
#include "call_context.h"
#include "geometry.h"
#include "recommendation.grpc.pb.h"
#include "services.h"

namespace hotel {
namespace {

class RecommendationService final : public hotel::recommendation::Recommendation::Service {
 public:
  explicit RecommendationService(const Dataset& data) : hotels_(data.hotels) {}

  grpc::Status GetRecommendations(grpc::ServerContext* context,
                                  const hotel::recommendation::RecommendationRequest* request,
                                  hotel::recommendation::RecommendationResult* result) override {
    grpc::Status traced = RequireTraceId(*context);
    if (!traced.ok()) return traced;
    // Each criterion as a score to minimise; hotels with the lowest score are all recommended.
    auto score = [&](const HotelRecord& hotel) {
      if (request->require() == "dis") {
        return DistanceKm(request->lat(), request->lon(), hotel.lat, hotel.lon);
      }
      if (request->require() == "rate") return -hotel.rating;
      return hotel.price;
    };
    if (request->require() != "dis" && request->require() != "rate" &&
        request->require() != "price") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "recommendation: require is dis, rate or price");
    }
    double best = 0;
    for (size_t i = 0; i < hotels_.size(); ++i) {
      double value = score(hotels_[i]);
      if (i == 0 || value < best) {
        best = value;
        result->clear_hotel_ids();
      }
      if (value == best) result->add_hotel_ids(hotels_[i].id);
    }
    return grpc::Status::OK;
  }

 private:
  const std::vector<HotelRecord> hotels_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewRecommendationService(const Dataset& data) {
  return std::make_unique<RecommendationService>(data);
}

}  // namespace hotel
