#include "grpc/bridged_caller.h"

#include <sys/random.h>

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "grpc/peer_auth_context.h"
#include "grpc/server_context_access.h"

namespace notnets::grpc::internal {

namespace {

using ::grpc::experimental::InterceptionHookPoints;
using ::grpc::experimental::Interceptor;
using ::grpc::experimental::InterceptorBatchMethods;
using ::grpc::experimental::ServerRpcInfo;

// 128 random bits, drawn once per process, as 32 hex digits.
const std::string& Secret() {
  static const std::string secret = [] {
    uint64_t bits[2];
    while (::getrandom(bits, sizeof(bits), 0) != sizeof(bits)) {
    }
    char text[33];
    std::snprintf(text, sizeof(text), "%016" PRIx64 "%016" PRIx64, bits[0], bits[1]);
    return std::string(text);
  }();
  return secret;
}

// Compares in time that does not depend on where the two differ.
bool SameSecret(std::string_view given) {
  const std::string& secret = Secret();
  if (given.size() != secret.size()) return false;
  unsigned char differ = 0;
  for (size_t i = 0; i < given.size(); ++i) differ |= given[i] ^ secret[i];
  return differ == 0;
}

// Takes the next ':'-separated field of `text` as a number in `base`.
template <class Number>
bool TakeField(std::string_view* text, int base, Number* number) {
  size_t end = text->find(':');
  std::string_view field = text->substr(0, end);
  auto [at, error] = std::from_chars(field.data(), field.data() + field.size(), *number, base);
  if (error != std::errc() || at != field.data() + field.size() || field.empty()) return false;
  text->remove_prefix(end == std::string_view::npos ? text->size() : end + 1);
  return true;
}

// The caller an entry names: "<secret>:<uid>:<gid>:<pid>:<host>", numbers in decimal but the
// host's 16 hex digits. Nobody unless the secret is this process's.
std::optional<notnets::PeerIdentity> CallerOf(std::string_view entry) {
  size_t end = entry.find(':');
  if (end == std::string_view::npos || !SameSecret(entry.substr(0, end))) return std::nullopt;
  entry.remove_prefix(end + 1);
  notnets::PeerIdentity caller;
  if (!TakeField(&entry, 10, &caller.uid) || !TakeField(&entry, 10, &caller.gid) ||
      !TakeField(&entry, 10, &caller.pid) || !TakeField(&entry, 16, &caller.host) ||
      !entry.empty()) {
    return std::nullopt;
  }
  return caller;
}

class BridgedCallerInterceptor final : public Interceptor {
 public:
  explicit BridgedCallerInterceptor(ServerRpcInfo* info) : info_(info) {}

  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      TakeCaller(methods->GetRecvInitialMetadata());
    }
    methods->Proceed();
  }

 private:
  void TakeCaller(std::multimap<::grpc::string_ref, ::grpc::string_ref>* metadata) {
    auto [first, last] = metadata->equal_range(::grpc::string_ref(kBridgedCallerKey));
    if (first == last) return;
    // The bridge adds one entry; a call with more was not (only) the bridge's.
    std::optional<notnets::PeerIdentity> caller;
    if (std::next(first) == last) {
      caller = CallerOf(std::string_view(first->second.data(), first->second.size()));
    }
    metadata->erase(first, last);
    if (caller.has_value()) {
      SetAuthContext(info_->server_context(), std::make_shared<PeerAuthContext>(*caller));
    }
  }

  ServerRpcInfo* const info_;
};

class BridgedCallerInterceptors final
    : public ::grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    return new BridgedCallerInterceptor(info);
  }
};

}  // namespace

void AddBridgedCaller(const notnets::PeerIdentity& caller, ::grpc::ClientContext* context) {
  context->AddMetadata(kBridgedCallerKey, Secret() + ":" + std::to_string(caller.uid) + ":" +
                                              std::to_string(caller.gid) + ":" +
                                              std::to_string(caller.pid) + ":" +
                                              HostText(caller.host));
}

std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface>
NewBridgedCallerInterceptors() {
  return std::make_unique<BridgedCallerInterceptors>();
}

bool IsBridgedCallerInterceptors(
    const ::grpc::experimental::ServerInterceptorFactoryInterface& factory) {
  return dynamic_cast<const BridgedCallerInterceptors*>(&factory) != nullptr;
}

}  // namespace notnets::grpc::internal
