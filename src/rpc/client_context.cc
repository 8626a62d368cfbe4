#include "notnets/client_context.h"

namespace notnets {

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
