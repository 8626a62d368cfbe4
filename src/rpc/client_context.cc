#include "notnets/client_context.h"

#include <random>

#include "rpc/client_context_access.h"

namespace notnets {

namespace internal {

uint64_t ClientContextAccess::CallToken(ClientContext* context) {
  if (context->call_token_ == 0) {
    thread_local std::mt19937_64 random(std::random_device{}());
    while (context->call_token_ == 0) context->call_token_ = random();
  }
  return context->call_token_;
}

}  // namespace internal

void ClientContext::set_deadline(std::chrono::system_clock::time_point deadline) {
  if (deadline == std::chrono::system_clock::time_point::max()) {
    deadline_ = std::chrono::steady_clock::time_point::max();
    return;
  }
  auto remaining = deadline - std::chrono::system_clock::now();
  deadline_ = std::chrono::steady_clock::now() +
              std::chrono::duration_cast<std::chrono::steady_clock::duration>(remaining);
}

}  // namespace notnets
