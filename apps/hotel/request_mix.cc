#include "request_mix.h"

#include "dataset.h"
#include "hash.h"

namespace hotel {
namespace {

// Users the stream logs in as: DeathStarBench's Cornell_0..Cornell_500.
constexpr int kUsers = 501;

void PickUser(Random* random, std::string* username, std::string* password) {
  int user = static_cast<int>(random->Below(kUsers));
  *username = UserName(user);
  // One login in ten mistypes the password, so that both answers are exercised.
  *password = random->Below(10) == 0 ? "wrong" : UserPassword(user);
}

}  // namespace

UserRequest MakeUserRequest(uint64_t seed, uint64_t index, int hotel_count) {
  Random random(Mix(Mix(seed) ^ index));
  UserRequest request;
  uint64_t draw = random.Below(1000);
  double lat = kMinLat + (kMaxLat - kMinLat) * random.Unit();
  double lon = kMinLon + (kMaxLon - kMinLon) * random.Unit();
  // Stays as in DeathStarBench's workload: check in on the 9th to the 23rd of April, out by the
  // 24th.
  int in = 9 + static_cast<int>(random.Below(15));
  int out = in + 1 + static_cast<int>(random.Below(24 - in));
  if (draw < 600) {
    request.kind = RequestKind::kSearch;
    request.search.set_in_date(DateOf(in));
    request.search.set_out_date(DateOf(out));
    request.search.set_lat(static_cast<float>(lat));
    request.search.set_lon(static_cast<float>(lon));
    request.search.set_locale("en");
  } else if (draw < 990) {
    static constexpr const char* kRequires[] = {"dis", "rate", "price"};
    request.kind = RequestKind::kRecommend;
    request.recommend.set_require(kRequires[random.Below(3)]);
    request.recommend.set_lat(lat);
    request.recommend.set_lon(lon);
  } else if (draw < 995) {
    request.kind = RequestKind::kLogin;
    PickUser(&random, request.login.mutable_username(), request.login.mutable_password());
  } else {
    request.kind = RequestKind::kReserve;
    request.reserve.set_in_date(DateOf(in));
    request.reserve.set_out_date(DateOf(out));
    request.reserve.set_hotel_id(std::to_string(1 + random.Below(hotel_count)));
    PickUser(&random, request.reserve.mutable_username(), request.reserve.mutable_password());
    request.reserve.set_customer_name(request.reserve.username());
    request.reserve.set_number(1);
  }
  return request;
}

}  // namespace hotel
