// frontend: what DeathStarBench's HTTP frontend does per request, as gRPC methods. Each step
// needs the previous step's answer, so the calls of one request run one after the other, as in
// the original; every call carries the request's deadline and trace id.
#include "call_context.h"
#include "frontend.grpc.pb.h"
#include "profile.grpc.pb.h"
#include "recommendation.grpc.pb.h"
#include "reservation.grpc.pb.h"
#include "search.grpc.pb.h"
#include "services.h"
#include "user.grpc.pb.h"

namespace hotel {
namespace {

using hotel::frontend::HotelsReply;
using hotel::frontend::MessageReply;

class FrontendService final : public hotel::frontend::Frontend::Service {
 public:
  explicit FrontendService(const FrontendPeers& peers)
      : search_(hotel::search::Search::NewStub(peers.search)),
        reservation_(hotel::reservation::Reservation::NewStub(peers.reservation)),
        profile_(hotel::profile::Profile::NewStub(peers.profile)),
        recommendation_(hotel::recommendation::Recommendation::NewStub(peers.recommendation)),
        user_(hotel::user::User::NewStub(peers.user)) {}

  grpc::Status SearchHotels(grpc::ServerContext* context,
                            const hotel::frontend::SearchHotelsRequest* request,
                            HotelsReply* reply) override {
    hotel::search::NearbyRequest nearby;
    nearby.set_lat(request->lat());
    nearby.set_lon(request->lon());
    nearby.set_in_date(request->in_date());
    nearby.set_out_date(request->out_date());
    hotel::search::SearchResult found;
    grpc::ClientContext search_context;
    grpc::Status status = Propagate(*context, &search_context);
    if (status.ok()) status = search_->Nearby(&search_context, nearby, &found);
    if (!status.ok()) return status;

    hotel::reservation::ReservationRequest availability;
    *availability.mutable_hotel_ids() = found.hotel_ids();
    availability.set_in_date(request->in_date());
    availability.set_out_date(request->out_date());
    availability.set_room_number(1);
    hotel::reservation::ReservationResult available;
    grpc::ClientContext reservation_context;
    status = Propagate(*context, &reservation_context);
    if (status.ok()) {
      status = reservation_->CheckAvailability(&reservation_context, availability, &available);
    }
    if (!status.ok()) return status;
    return Profiles(*context, available.hotel_ids(), request->locale(), reply);
  }

  grpc::Status Recommend(grpc::ServerContext* context,
                         const hotel::frontend::RecommendRequest* request,
                         HotelsReply* reply) override {
    hotel::recommendation::RecommendationRequest ask;
    ask.set_require(request->require());
    ask.set_lat(request->lat());
    ask.set_lon(request->lon());
    hotel::recommendation::RecommendationResult recommended;
    grpc::ClientContext recommendation_context;
    grpc::Status status = Propagate(*context, &recommendation_context);
    if (status.ok()) {
      status = recommendation_->GetRecommendations(&recommendation_context, ask, &recommended);
    }
    if (!status.ok()) return status;
    return Profiles(*context, recommended.hotel_ids(), "en", reply);
  }

  grpc::Status Login(grpc::ServerContext* context, const hotel::frontend::LoginRequest* request,
                     MessageReply* reply) override {
    bool correct = false;
    grpc::Status status = CheckUser(*context, request->username(), request->password(), &correct);
    if (!status.ok()) return status;
    reply->set_message(correct ? "Login successfully!"
                               : "Failed. Please check your username and password.");
    return grpc::Status::OK;
  }

  grpc::Status Reserve(grpc::ServerContext* context, const hotel::frontend::ReserveRequest* request,
                       MessageReply* reply) override {
    bool correct = false;
    grpc::Status status = CheckUser(*context, request->username(), request->password(), &correct);
    if (!status.ok()) return status;
    if (!correct) {
      reply->set_message("Failed. Please check your username and password.");
      return grpc::Status::OK;
    }
    hotel::reservation::ReservationRequest booking;
    booking.set_customer_name(request->customer_name());
    booking.add_hotel_ids(request->hotel_id());
    booking.set_in_date(request->in_date());
    booking.set_out_date(request->out_date());
    booking.set_room_number(request->number());
    hotel::reservation::ReservationResult booked;
    grpc::ClientContext reservation_context;
    status = Propagate(*context, &reservation_context);
    if (status.ok()) status = reservation_->MakeReservation(&reservation_context, booking, &booked);
    if (!status.ok()) return status;
    reply->set_message(booked.hotel_ids_size() == 1 ? "Reserve successfully!"
                                                    : "Failed. Already reserved.");
    return grpc::Status::OK;
  }

 private:
  template <typename Ids>
  grpc::Status Profiles(const grpc::ServerContext& context, const Ids& ids,
                        const std::string& locale, HotelsReply* reply) {
    hotel::profile::ProfileRequest request;
    *request.mutable_hotel_ids() = ids;
    request.set_locale(locale);
    hotel::profile::ProfileResult profiles;
    grpc::ClientContext profile_context;
    grpc::Status status = Propagate(context, &profile_context);
    if (status.ok()) status = profile_->GetProfiles(&profile_context, request, &profiles);
    if (!status.ok()) return status;
    *reply->mutable_hotels() = std::move(*profiles.mutable_hotels());
    return grpc::Status::OK;
  }

  grpc::Status CheckUser(const grpc::ServerContext& context, const std::string& username,
                         const std::string& password, bool* correct) {
    hotel::user::CheckUserRequest request;
    request.set_username(username);
    request.set_password(password);
    hotel::user::CheckUserResult result;
    grpc::ClientContext user_context;
    grpc::Status status = Propagate(context, &user_context);
    if (status.ok()) status = user_->CheckUser(&user_context, request, &result);
    *correct = status.ok() && result.correct();
    return status;
  }

  std::unique_ptr<hotel::search::Search::Stub> search_;
  std::unique_ptr<hotel::reservation::Reservation::Stub> reservation_;
  std::unique_ptr<hotel::profile::Profile::Stub> profile_;
  std::unique_ptr<hotel::recommendation::Recommendation::Stub> recommendation_;
  std::unique_ptr<hotel::user::User::Stub> user_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewFrontendService(const FrontendPeers& peers) {
  return std::make_unique<FrontendService>(peers);
}

}  // namespace hotel
