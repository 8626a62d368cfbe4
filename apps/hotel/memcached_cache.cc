// ConnectMemcached with libmemcached. A memcached_st is not thread-safe, so each call borrows one
// from a free list (made on demand, one per concurrent caller at most) and gives it back.
#include <libmemcached/memcached.h>

#include <cstdio>
#include <mutex>

#include "cache.h"

namespace hotel {
namespace {

class MemcachedCache final : public Cache {
 public:
  MemcachedCache(std::string host, in_port_t port) : host_(std::move(host)), port_(port) {}

  ~MemcachedCache() override {
    for (memcached_st* client : idle_) memcached_free(client);
  }

  std::map<std::string, std::string> GetMany(const std::vector<std::string>& keys) override {
    std::map<std::string, std::string> values;
    if (keys.empty()) return values;
    std::vector<const char*> key_pointers;
    std::vector<size_t> key_lengths;
    for (const std::string& key : keys) {
      key_pointers.push_back(key.data());
      key_lengths.push_back(key.size());
    }
    memcached_st* client = Borrow();
    if (client == nullptr) return values;
    memcached_return_t rc =
        memcached_mget(client, key_pointers.data(), key_lengths.data(), keys.size());
    if (memcached_success(rc)) {
      while (memcached_result_st* result = memcached_fetch_result(client, nullptr, &rc)) {
        values.emplace(
            std::string(memcached_result_key_value(result), memcached_result_key_length(result)),
            std::string(memcached_result_value(result), memcached_result_length(result)));
        memcached_result_free(result);
      }
    }
    GiveBack(client);
    return values;
  }

  void Set(const std::string& key, const std::string& value) override {
    memcached_st* client = Borrow();
    if (client == nullptr) return;
    memcached_set(client, key.data(), key.size(), value.data(), value.size(), 0, 0);
    GiveBack(client);
  }

 private:
  memcached_st* Borrow() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_.empty()) {
        memcached_st* client = idle_.back();
        idle_.pop_back();
        return client;
      }
    }
    memcached_st* client = memcached_create(nullptr);
    if (client == nullptr) return nullptr;
    // Small requests, each waited for: Nagle's delay would only add latency.
    memcached_behavior_set(client, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    memcached_server_add(client, host_.c_str(), port_);
    return client;
  }

  void GiveBack(memcached_st* client) {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(client);
  }

  const std::string host_;
  const in_port_t port_;
  std::mutex mutex_;
  std::vector<memcached_st*> idle_;
};

}  // namespace

std::unique_ptr<Cache> ConnectMemcached(const std::string& address) {
  size_t colon = address.rfind(':');
  int port = colon == std::string::npos ? 0 : std::atoi(address.c_str() + colon + 1);
  if (port <= 0 || port > 65535) {
    std::fprintf(stderr, "hotel: memcached address is not host:port: %s\n", address.c_str());
    return nullptr;
  }
  return std::make_unique<MemcachedCache>(address.substr(0, colon), static_cast<in_port_t>(port));
}

}  // namespace hotel
