// A cache in front of a service's data, as DeathStarBench puts memcached in front of MongoDB for
// profile and rate. The data stays in the service's memory (its "database"); the cache only
// changes where a read is answered from, never what it answers.
#ifndef NOTNETS_APPS_HOTEL_CACHE_H_
#define NOTNETS_APPS_HOTEL_CACHE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hotel {

// A key-value cache shared by a service's threads.
class Cache {
 public:
  virtual ~Cache() = default;
  // The values of those of `keys` the cache holds, in one round trip; a key it lacks, or every
  // key when it cannot be reached, is absent from the result.
  virtual std::map<std::string, std::string> GetMany(const std::vector<std::string>& keys) = 0;
  // Stores `value` under `key`; a failure is ignored, since the data is still in memory.
  virtual void Set(const std::string& key, const std::string& value) = 0;
};

// A memcached client for "host:port"; null, with the reason on stderr, when this build has no
// memcached client (libmemcached-dev was not installed when it was configured).
std::unique_ptr<Cache> ConnectMemcached(const std::string& address);

}  // namespace hotel

#endif  // NOTNETS_APPS_HOTEL_CACHE_H_
