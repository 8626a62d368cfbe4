// profile: hotel profiles from memory (the original reads them through memcached, MongoDB
// behind it).
#include "call_context.h"
#include "hotel_index.h"
#include "profile.grpc.pb.h"
#include "services.h"

namespace hotel {
namespace {

class ProfileService final : public hotel::profile::Profile::Service {
 public:
  explicit ProfileService(const Dataset& data) : data_(data) {}

  grpc::Status GetProfiles(grpc::ServerContext* context,
                           const hotel::profile::ProfileRequest* request,
                           hotel::profile::ProfileResult* result) override {
    grpc::Status traced = RequireTraceId(*context);
    if (!traced.ok()) return traced;
    for (const std::string& id : request->hotel_ids()) {
      int index = IndexOfHotel(data_, id);
      if (index < 0) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "profile: no hotel " + id);
      }
      *result->add_hotels() = data_.hotels[index].profile;
    }
    return grpc::Status::OK;
  }

 private:
  const Dataset& data_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewProfileService(const Dataset& data) {
  return std::make_unique<ProfileService>(data);
}

}  // namespace hotel
