// rate: a hotel's plans from memory, through a cache when there is one (the original reads them
// through memcached, MongoDB behind it), those whose dates cover the stay.
#include <algorithm>
#include <vector>

#include "cache.h"
#include "call_context.h"
#include "hotel_index.h"
#include "rate.grpc.pb.h"
#include "services.h"

namespace hotel {
namespace {

class RateService final : public hotel::rate::Rate::Service {
 public:
  RateService(const Dataset& data, Cache* cache) : data_(data), cache_(cache) {}

  grpc::Status GetRates(grpc::ServerContext* context, const hotel::rate::RateRequest* request,
                        hotel::rate::RateResult* result) override {
    grpc::Status traced = RequireTraceId(*context);
    if (!traced.ok()) return traced;
    int in = DayOf(request->in_date()), out = DayOf(request->out_date());
    if (in == 0 || out == 0 || out <= in) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "rate: bad stay dates");
    }
    std::vector<std::string> ids, keys;
    for (const std::string& id : request->hotel_ids()) {
      if (IndexOfHotel(data_, id) < 0) continue;
      ids.push_back(id);
      keys.push_back("rates:" + id);
    }
    std::map<std::string, std::string> cached;
    if (cache_ != nullptr) cached = cache_->GetMany(keys);
    std::vector<hotel::rate::RatePlan> plans;
    for (size_t i = 0; i < ids.size(); ++i) {
      hotel::rate::RateResult hotel_plans = PlansOf(ids[i], keys[i], cached);
      for (hotel::rate::RatePlan& plan : *hotel_plans.mutable_rate_plans()) {
        if (DayOf(plan.in_date()) <= in && out <= DayOf(plan.out_date())) {
          plans.push_back(std::move(plan));
        }
      }
    }
    // Cheapest first; equal rates keep the order asked, so the answer is the same every time.
    std::stable_sort(plans.begin(), plans.end(), [](const auto& a, const auto& b) {
      return a.room_type().total_rate() < b.room_type().total_rate();
    });
    for (hotel::rate::RatePlan& plan : plans) *result->add_rate_plans() = std::move(plan);
    return grpc::Status::OK;
  }

 private:
  // Every plan of hotel `id`: from the cache if it had them under `key`, else from memory (and
  // then into the cache).
  hotel::rate::RateResult PlansOf(const std::string& id, const std::string& key,
                                  const std::map<std::string, std::string>& cached) {
    hotel::rate::RateResult plans;
    auto hit = cached.find(key);
    if (hit != cached.end() && plans.ParseFromString(hit->second)) return plans;
    plans.Clear();
    for (const hotel::rate::RatePlan& plan : data_.hotels[IndexOfHotel(data_, id)].rate_plans) {
      *plans.add_rate_plans() = plan;
    }
    if (cache_ != nullptr) cache_->Set(key, plans.SerializeAsString());
    return plans;
  }

  const Dataset& data_;
  Cache* const cache_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewRateService(const Dataset& data, Cache* cache) {
  return std::make_unique<RateService>(data, cache);
}

}  // namespace hotel
