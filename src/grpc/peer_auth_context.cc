#include "grpc/peer_auth_context.h"

#include <grpc/grpc_security_constants.h>

#include <cinttypes>
#include <cstdio>

namespace notnets::grpc::internal {

namespace {

// An iterator over no property: what begin() and end() both return.
class NoProperty final : public ::grpc::AuthPropertyIterator {
 public:
  NoProperty() = default;
};

}  // namespace

std::string HostText(uint64_t host) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016" PRIx64, host);
  return text;
}

PeerAuthContext::PeerAuthContext(const notnets::PeerIdentity& peer) : identity_name_(kUidProperty) {
  properties_.emplace_back(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME, kTransportSecurityType);
  properties_.emplace_back(kUidProperty, std::to_string(peer.uid));
  properties_.emplace_back(kGidProperty, std::to_string(peer.gid));
  properties_.emplace_back(kPidProperty, std::to_string(peer.pid));
  properties_.emplace_back(kHostProperty, HostText(peer.host));
}

std::vector<::grpc::string_ref> PeerAuthContext::GetPeerIdentity() const {
  return FindPropertyValues(identity_name_);
}

std::vector<::grpc::string_ref> PeerAuthContext::FindPropertyValues(const std::string& name) const {
  std::vector<::grpc::string_ref> values;
  for (const auto& [key, value] : properties_) {
    if (key == name) values.emplace_back(value.data(), value.size());
  }
  return values;
}

::grpc::AuthPropertyIterator PeerAuthContext::begin() const { return NoProperty(); }

::grpc::AuthPropertyIterator PeerAuthContext::end() const { return NoProperty(); }

void PeerAuthContext::AddProperty(const std::string& key, const ::grpc::string_ref& value) {
  properties_.emplace_back(key, std::string(value.data(), value.size()));
}

bool PeerAuthContext::SetPeerIdentityPropertyName(const std::string& name) {
  if (FindPropertyValues(name).empty()) return false;
  identity_name_ = name;
  return true;
}

std::string PeerString(const std::string& pool_path, const notnets::PeerIdentity& peer) {
  return "notnets:" + pool_path + "?uid=" + std::to_string(peer.uid) +
         "&gid=" + std::to_string(peer.gid) + "&pid=" + std::to_string(peer.pid) +
         "&host=" + HostText(peer.host);
}

}  // namespace notnets::grpc::internal
