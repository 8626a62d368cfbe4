// Hotel ids to records, for the services that answer by id.
#ifndef NOTNETS_APPS_HOTEL_HOTEL_INDEX_H_
#define NOTNETS_APPS_HOTEL_HOTEL_INDEX_H_

#include <string>

#include "dataset.h"

namespace hotel {

// The index in data.hotels of hotel `id`, or -1 if there is none. Ids are "1".."N" in order
// (MakeDataset), so no map is needed.
inline int IndexOfHotel(const Dataset& data, const std::string& id) {
  if (id.empty() || id.size() > 9 || id[0] == '0') return -1;
  int number = 0;
  for (char c : id) {
    if (c < '0' || c > '9') return -1;
    number = number * 10 + (c - '0');
  }
  return number >= 1 && number <= static_cast<int>(data.hotels.size()) ? number - 1 : -1;
}

}  // namespace hotel

#endif  // NOTNETS_APPS_HOTEL_HOTEL_INDEX_H_
