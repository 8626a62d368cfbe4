// ConnectMemcached for builds without libmemcached: the services run with their data in memory
// only.
#include <cstdio>

#include "cache.h"

namespace hotel {

std::unique_ptr<Cache> ConnectMemcached(const std::string& address) {
  std::fprintf(stderr,
               "hotel: cannot use memcached at %s: built without libmemcached "
               "(install libmemcached-dev and configure again)\n",
               address.c_str());
  return nullptr;
}

}  // namespace hotel
