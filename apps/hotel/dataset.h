// The synthetic hotel data every service generates at start-up from the same seed, so that the
// services agree on it without a database: hotels with locations, ratings, rate plans and
// profiles of a few KiB, and users with passwords.
#ifndef NOTNETS_APPS_HOTEL_DATASET_H_
#define NOTNETS_APPS_HOTEL_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "profile.pb.h"
#include "rate.pb.h"

namespace hotel {

// One hotel as all services see it.
struct HotelRecord {
  std::string id;
  double lat = 0;
  double lon = 0;
  // Guest rating, 0 to 5, and the cheapest nightly price: recommendation's criteria.
  double rating = 0;
  double price = 0;
  // Rooms per night, the reservation service's capacity.
  int capacity = 0;
  hotel::profile::Hotel profile;
  std::vector<hotel::rate::RatePlan> rate_plans;
};

// Everything generated from one seed.
struct Dataset {
  std::vector<HotelRecord> hotels;
  // Users "Cornell_<i>", i < user_count, whose password is <i> repeated ten times (as
  // DeathStarBench's).
  int user_count = 0;
};

// The data of seed `seed` with `hotel_count` hotels (ids "1".."hotel_count") around San
// Francisco; the same arguments give the same data everywhere.
Dataset MakeDataset(uint64_t seed, int hotel_count);

// The name and the password of user `index`.
std::string UserName(int index);
std::string UserPassword(int index);

// Search area: hotels and request points lie in this box.
inline constexpr double kMinLat = 37.70, kMaxLat = 37.90;
inline constexpr double kMinLon = -122.52, kMaxLon = -122.30;

// Stays are nights of April 2015, as in DeathStarBench's workload; the date of night `day`
// (1..30) is "2015-04-DD".
std::string DateOf(int day);
// The night of a date made by DateOf, or 0 if it is not one.
int DayOf(const std::string& date);

}  // namespace hotel

#endif  // NOTNETS_APPS_HOTEL_DATASET_H_
