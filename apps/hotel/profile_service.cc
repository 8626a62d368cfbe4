// profile: hotel profiles from memory, through a cache when there is one (the original reads
// them through memcached, MongoDB behind it).
#include "cache.h"
#include "call_context.h"
#include "hotel_index.h"
#include "profile.grpc.pb.h"
#include "services.h"

namespace hotel {
namespace {

class ProfileService final : public hotel::profile::Profile::Service {
 public:
  ProfileService(const Dataset& data, Cache* cache) : data_(data), cache_(cache) {}

  grpc::Status GetProfiles(grpc::ServerContext* context,
                           const hotel::profile::ProfileRequest* request,
                           hotel::profile::ProfileResult* result) override {
    grpc::Status traced = RequireTraceId(*context);
    if (!traced.ok()) return traced;
    std::vector<std::string> keys;
    for (const std::string& id : request->hotel_ids()) {
      if (IndexOfHotel(data_, id) < 0) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "profile: no hotel " + id);
      }
      keys.push_back("profile:" + id);
    }
    std::map<std::string, std::string> cached;
    if (cache_ != nullptr) cached = cache_->GetMany(keys);
    for (int i = 0; i < request->hotel_ids_size(); ++i) {
      hotel::profile::Hotel* hotel = result->add_hotels();
      auto hit = cached.find(keys[i]);
      if (hit != cached.end() && hotel->ParseFromString(hit->second)) continue;
      *hotel = data_.hotels[IndexOfHotel(data_, request->hotel_ids(i))].profile;
      if (cache_ != nullptr) cache_->Set(keys[i], hotel->SerializeAsString());
    }
    return grpc::Status::OK;
  }

 private:
  const Dataset& data_;
  Cache* const cache_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewProfileService(const Dataset& data, Cache* cache) {
  return std::make_unique<ProfileService>(data, cache);
}

}  // namespace hotel
