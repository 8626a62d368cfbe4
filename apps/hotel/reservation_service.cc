// reservation: rooms booked per hotel and night, in memory (the original keeps them in MongoDB
// behind memcached). A stay is available when every night has the rooms free.
//
// Only whether a hotel is available ever reaches a response, never a count, so that responses
// do not depend on the order concurrent requests arrive in unless a hotel fills up: the load
// generator's checksums stay comparable between runs.
#include <mutex>
#include <vector>

#include "call_context.h"
#include "hotel_index.h"
#include "reservation.grpc.pb.h"
#include "services.h"

namespace hotel {
namespace {

constexpr int kNights = 31;  // indexed by day of April, 1..30

class ReservationService final : public hotel::reservation::Reservation::Service {
 public:
  explicit ReservationService(const Dataset& data)
      : data_(data), booked_(data.hotels.size(), std::vector<int>(kNights, 0)) {}

  grpc::Status MakeReservation(grpc::ServerContext* context,
                               const hotel::reservation::ReservationRequest* request,
                               hotel::reservation::ReservationResult* result) override {
    Stay stay;
    grpc::Status status = Check(*context, *request, &stay);
    if (!status.ok()) return status;
    if (request->hotel_ids_size() != 1) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "reservation: book one hotel");
    }
    int hotel = IndexOfHotel(data_, request->hotel_ids(0));
    if (hotel < 0) return grpc::Status(grpc::StatusCode::NOT_FOUND, "reservation: no such hotel");
    std::lock_guard<std::mutex> lock(mutex_);
    if (!Free(hotel, stay)) return grpc::Status::OK;
    for (int night = stay.in; night < stay.out; ++night) booked_[hotel][night] += stay.rooms;
    result->add_hotel_ids(request->hotel_ids(0));
    return grpc::Status::OK;
  }

  grpc::Status CheckAvailability(grpc::ServerContext* context,
                                 const hotel::reservation::ReservationRequest* request,
                                 hotel::reservation::ReservationResult* result) override {
    Stay stay;
    grpc::Status status = Check(*context, *request, &stay);
    if (!status.ok()) return status;
    std::lock_guard<std::mutex> lock(mutex_);
    for (const std::string& id : request->hotel_ids()) {
      int hotel = IndexOfHotel(data_, id);
      if (hotel >= 0 && Free(hotel, stay)) result->add_hotel_ids(id);
    }
    return grpc::Status::OK;
  }

 private:
  struct Stay {
    int in = 0, out = 0, rooms = 0;
  };

  // Reads the stay of `request` into `stay`, or says what is wrong with the call.
  static grpc::Status Check(const grpc::ServerContext& context,
                            const hotel::reservation::ReservationRequest& request, Stay* stay) {
    grpc::Status traced = RequireTraceId(context);
    if (!traced.ok()) return traced;
    stay->in = DayOf(request.in_date());
    stay->out = DayOf(request.out_date());
    stay->rooms = request.room_number();
    if (stay->in == 0 || stay->out == 0 || stay->out <= stay->in || stay->rooms < 1) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "reservation: bad stay");
    }
    return grpc::Status::OK;
  }

  bool Free(int hotel, const Stay& stay) const {
    for (int night = stay.in; night < stay.out; ++night) {
      if (booked_[hotel][night] + stay.rooms > data_.hotels[hotel].capacity) return false;
    }
    return true;
  }

  const Dataset& data_;
  std::mutex mutex_;
  std::vector<std::vector<int>> booked_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewReservationService(const Dataset& data) {
  return std::make_unique<ReservationService>(data);
}

}  // namespace hotel
