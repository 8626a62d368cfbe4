// A thread per process that lets channels give back the pool memory of connections whose server
// has gone, also while nobody calls on them, and connect to new replicas of their service.
#ifndef NOTNETS_RPC_CHANNEL_JANITOR_H_
#define NOTNETS_RPC_CHANNEL_JANITOR_H_

#include <chrono>

namespace notnets::internal {

class ChannelCore;

class ChannelJanitor {
 public:
  // How often each channel's connections are looked at, and the directory for new replicas: a
  // new replica takes calls within this time of registering.
  static constexpr std::chrono::milliseconds kInterval{50};

  // Starts looking after `core` (ChannelCore::ReleaseGone every kInterval); the thread starts
  // with the first channel of the process and lives as long as the process.
  static void Add(ChannelCore* core);
  // Stops looking after `core`; when it returns, the janitor no longer uses it.
  static void Remove(ChannelCore* core);
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_CHANNEL_JANITOR_H_
