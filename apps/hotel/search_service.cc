// search: geo for the hotels near the point, then rate for those that can be booked for the
// stay. The second call needs the first's answer, so the two run one after the other, as in the
// original.
#include <algorithm>

#include "call_context.h"
#include "geo.grpc.pb.h"
#include "rate.grpc.pb.h"
#include "search.grpc.pb.h"
#include "services.h"

namespace hotel {
namespace {

class SearchService final : public hotel::search::Search::Service {
 public:
  SearchService(std::shared_ptr<grpc::Channel> geo, std::shared_ptr<grpc::Channel> rate)
      : geo_(hotel::geo::Geo::NewStub(geo)), rate_(hotel::rate::Rate::NewStub(rate)) {}

  grpc::Status Nearby(grpc::ServerContext* context, const hotel::search::NearbyRequest* request,
                      hotel::search::SearchResult* result) override {
    hotel::geo::NearbyRequest geo_request;
    geo_request.set_lat(request->lat());
    geo_request.set_lon(request->lon());
    hotel::geo::NearbyResult nearby;
    grpc::ClientContext geo_context;
    grpc::Status status = Propagate(*context, &geo_context);
    if (status.ok()) status = geo_->Nearby(&geo_context, geo_request, &nearby);
    if (!status.ok()) return status;

    hotel::rate::RateRequest rate_request;
    *rate_request.mutable_hotel_ids() = nearby.hotel_ids();
    rate_request.set_in_date(request->in_date());
    rate_request.set_out_date(request->out_date());
    hotel::rate::RateResult rates;
    grpc::ClientContext rate_context;
    status = Propagate(*context, &rate_context);
    if (status.ok()) status = rate_->GetRates(&rate_context, rate_request, &rates);
    if (!status.ok()) return status;

    // A hotel once, at its cheapest plan's place.
    for (const hotel::rate::RatePlan& plan : rates.rate_plans()) {
      const auto& ids = result->hotel_ids();
      if (std::find(ids.begin(), ids.end(), plan.hotel_id()) == ids.end()) {
        result->add_hotel_ids(plan.hotel_id());
      }
    }
    return grpc::Status::OK;
  }

 private:
  std::unique_ptr<hotel::geo::Geo::Stub> geo_;
  std::unique_ptr<hotel::rate::Rate::Stub> rate_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewSearchService(std::shared_ptr<grpc::Channel> geo,
                                                std::shared_ptr<grpc::Channel> rate) {
  return std::make_unique<SearchService>(std::move(geo), std::move(rate));
}

}  // namespace hotel
