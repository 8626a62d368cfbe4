// rate: a hotel's plans from memory, those whose dates cover the stay.
#include <algorithm>
#include <vector>

#include "call_context.h"
#include "hotel_index.h"
#include "rate.grpc.pb.h"
#include "services.h"

namespace hotel {
namespace {

class RateService final : public hotel::rate::Rate::Service {
 public:
  explicit RateService(const Dataset& data) : data_(data) {}

  grpc::Status GetRates(grpc::ServerContext* context, const hotel::rate::RateRequest* request,
                        hotel::rate::RateResult* result) override {
    grpc::Status traced = RequireTraceId(*context);
    if (!traced.ok()) return traced;
    int in = DayOf(request->in_date()), out = DayOf(request->out_date());
    if (in == 0 || out == 0 || out <= in) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "rate: bad stay dates");
    }
    std::vector<const hotel::rate::RatePlan*> plans;
    for (const std::string& id : request->hotel_ids()) {
      int index = IndexOfHotel(data_, id);
      if (index < 0) continue;
      for (const hotel::rate::RatePlan& plan : data_.hotels[index].rate_plans) {
        if (DayOf(plan.in_date()) <= in && out <= DayOf(plan.out_date())) plans.push_back(&plan);
      }
    }
    // Cheapest first; equal rates keep the order asked, so the answer is the same every time.
    std::stable_sort(plans.begin(), plans.end(), [](const auto* a, const auto* b) {
      return a->room_type().total_rate() < b->room_type().total_rate();
    });
    for (const hotel::rate::RatePlan* plan : plans) *result->add_rate_plans() = *plan;
    return grpc::Status::OK;
  }

 private:
  const Dataset& data_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewRateService(const Dataset& data) {
  return std::make_unique<RateService>(data);
}

}  // namespace hotel
