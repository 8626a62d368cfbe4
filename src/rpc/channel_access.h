// The gRPC integration's access to what Channel keeps from applications.
#ifndef NOTNETS_RPC_CHANNEL_ACCESS_H_
#define NOTNETS_RPC_CHANNEL_ACCESS_H_

#include <chrono>
#include <string_view>

#include "notnets/channel.h"

namespace notnets::internal {

class ChannelAccess {
 public:
  // Channel::CallAsync, but first waits up to `inline_wait` for the answer on the calling
  // thread, reading responses itself as Call does; only past that does the completion thread
  // take the call over, so `done` may run before this returns. For callers that cannot tell
  // whether their caller may block (the gRPC integration): a quick answer then costs no thread
  // hand-off. A zero `inline_wait` is Channel::CallAsync.
  static void CallAsync(Channel* channel, std::string_view method, std::string_view request,
                        ClientContext* context, CallCallback done,
                        std::chrono::nanoseconds inline_wait);
  static void CallAsync(Channel* channel, std::string_view method, MessageBuffer request,
                        ClientContext* context, CallCallback done,
                        std::chrono::nanoseconds inline_wait);
  // Reads the answers that arrived for the channel's asynchronous calls and runs their
  // callbacks on the calling thread, as the completion thread would; false if there were none.
  // For a caller about to wait for an answer: it takes it without a thread hand-off.
  static bool Poll(Channel* channel);
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_CHANNEL_ACCESS_H_
