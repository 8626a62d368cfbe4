#include "dataset.h"

#include <cstdio>

#include "hash.h"

namespace hotel {
namespace {

constexpr const char* kWords[] = {
    "quiet",  "rooms",   "view",    "bay",     "breakfast", "downtown", "walk",   "station",
    "garden", "rooftop", "bar",     "pool",    "historic",  "modern",   "suites", "family",
    "pets",   "parking", "gym",     "service", "concierge", "spa",      "ocean",  "bridge",
    "cable",  "car",     "museum",  "park",    "shopping",  "dining",   "local",  "coffee",
    "wifi",   "desk",    "laundry", "terrace", "lobby",     "art",      "market", "harbor"};
constexpr int kWordCount = sizeof(kWords) / sizeof(kWords[0]);

// Prose of about `bytes` bytes: the bulk of a profile, as free text is in real ones.
std::string Prose(Random* random, size_t bytes) {
  std::string text;
  while (text.size() < bytes) {
    if (!text.empty()) text += ' ';
    text += kWords[random->Below(kWordCount)];
  }
  return text;
}

std::string Digits(Random* random, int count) {
  std::string digits;
  for (int i = 0; i < count; ++i) digits += static_cast<char>('0' + random->Below(10));
  return digits;
}

hotel::profile::Hotel MakeProfile(const HotelRecord& record, Random* random) {
  hotel::profile::Hotel profile;
  profile.set_id(record.id);
  profile.set_name("Hotel " + record.id + " " + kWords[random->Below(kWordCount)]);
  profile.set_phone_number("(415) " + Digits(random, 3) + "-" + Digits(random, 4));
  // 2 to 4 KiB of description, as hotel listings have.
  profile.set_description(Prose(random, 2048 + random->Below(2048)));
  hotel::profile::Address* address = profile.mutable_address();
  address->set_street_number(std::to_string(1 + random->Below(3000)));
  address->set_street_name(std::string(kWords[random->Below(kWordCount)]) + " Street");
  address->set_city("San Francisco");
  address->set_state("CA");
  address->set_country("United States");
  address->set_postal_code("94" + Digits(random, 3));
  address->set_lat(static_cast<float>(record.lat));
  address->set_lon(static_cast<float>(record.lon));
  int images = 3 + static_cast<int>(random->Below(6));
  for (int i = 0; i < images; ++i) {
    hotel::profile::Image* image = profile.add_images();
    image->set_url("https://images.example.com/hotels/" + record.id + "/" + Digits(random, 12) +
                   ".jpg");
    image->set_is_default(i == 0);
  }
  return profile;
}

std::vector<hotel::rate::RatePlan> MakeRatePlans(const HotelRecord& record, Random* random) {
  std::vector<hotel::rate::RatePlan> plans;
  int count = 1 + static_cast<int>(random->Below(3));
  for (int i = 0; i < count; ++i) {
    // Each plan covers a stretch of April; searches ask for stays inside it.
    int first = 1 + static_cast<int>(random->Below(10));
    int last = 20 + static_cast<int>(random->Below(11));
    hotel::rate::RatePlan plan;
    plan.set_hotel_id(record.id);
    plan.set_code("RACK" + std::to_string(i));
    plan.set_in_date(DateOf(first));
    plan.set_out_date(DateOf(last));
    double rate = record.price * (1.0 + 0.25 * i);
    hotel::rate::RoomType* room = plan.mutable_room_type();
    room->set_bookable_rate(rate);
    room->set_total_rate(rate);
    room->set_total_rate_inclusive(rate * 1.14);
    room->set_code(i == 0 ? "KNG" : "QN" + std::to_string(i));
    room->set_currency("USD");
    room->set_room_description(Prose(random, 120));
    plans.push_back(std::move(plan));
  }
  return plans;
}

}  // namespace

Dataset MakeDataset(uint64_t seed, int hotel_count) {
  Dataset data;
  Random random(Mix(seed));
  for (int i = 1; i <= hotel_count; ++i) {
    HotelRecord record;
    record.id = std::to_string(i);
    record.lat = kMinLat + (kMaxLat - kMinLat) * random.Unit();
    record.lon = kMinLon + (kMaxLon - kMinLon) * random.Unit();
    // Ratings and prices on coarse steps, so that recommendation sometimes has ties.
    record.rating = static_cast<double>(random.Below(11)) / 2;
    record.price = 80 + 10 * static_cast<double>(random.Below(30));
    record.capacity = 50 + static_cast<int>(random.Below(151));
    record.profile = MakeProfile(record, &random);
    record.rate_plans = MakeRatePlans(record, &random);
    data.hotels.push_back(std::move(record));
  }
  data.user_count = 501;
  return data;
}

std::string UserName(int index) { return "Cornell_" + std::to_string(index); }

std::string UserPassword(int index) {
  std::string password;
  for (int i = 0; i < 10; ++i) password += std::to_string(index);
  return password;
}

std::string DateOf(int day) {
  char date[16];
  std::snprintf(date, sizeof(date), "2015-04-%02d", day);
  return date;
}

int DayOf(const std::string& date) {
  int day = 0;
  if (date.size() != 10 || date.compare(0, 8, "2015-04-") != 0) return 0;
  for (char c : date.substr(8)) {
    if (c < '0' || c > '9') return 0;
    day = day * 10 + (c - '0');
  }
  return day >= 1 && day <= 30 ? day : 0;
}

}  // namespace hotel
