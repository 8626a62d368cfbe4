// The load generator's request stream: request i of a seed is always the same request, whatever
// the rate or the transport, so that runs with the same seed and count can be compared response
// by response. The mix is DeathStarBench hotelReservation's: 60% search, 39% recommend, 0.5%
// login, 0.5% reserve.
#ifndef NOTNETS_APPS_HOTEL_REQUEST_MIX_H_
#define NOTNETS_APPS_HOTEL_REQUEST_MIX_H_

#include <cstdint>

#include "frontend.pb.h"

namespace hotel {

// The four kinds of user request, one per frontend method.
enum class RequestKind { kSearch, kRecommend, kLogin, kReserve };

// One user request; only the message of its kind is set.
struct UserRequest {
  RequestKind kind = RequestKind::kSearch;
  hotel::frontend::SearchHotelsRequest search;
  hotel::frontend::RecommendRequest recommend;
  hotel::frontend::LoginRequest login;
  hotel::frontend::ReserveRequest reserve;
};

// Request `index` of the stream of `seed`, for a dataset of `hotel_count` hotels.
UserRequest MakeUserRequest(uint64_t seed, uint64_t index, int hotel_count);

}  // namespace hotel

#endif  // NOTNETS_APPS_HOTEL_REQUEST_MIX_H_
