// The grpc::AuthContext of a pool call: who the other party is, with "notnets" as its
// transport_security_type, so that authorization code written for TLS client certificates has
// an equivalent on the pool path.
#ifndef NOTNETS_GRPC_PEER_AUTH_CONTEXT_H_
#define NOTNETS_GRPC_PEER_AUTH_CONTEXT_H_

#include <grpcpp/security/auth_context.h>

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "notnets/server.h"

namespace notnets::grpc::internal {

// The property names (docs/grpc.md, "Identity").
inline constexpr char kTransportSecurityType[] = "notnets";
inline constexpr char kUidProperty[] = "notnets_uid";  // the peer identity property
inline constexpr char kGidProperty[] = "notnets_gid";
inline constexpr char kPidProperty[] = "notnets_pid";
inline constexpr char kHostProperty[] = "notnets_host";

// Authenticated: the uid and gid are the kernel's record of the party (notnets::PeerIdentity),
// the peer identity is the uid; pid and host are what the party says. gRPC 1.51 iterates
// properties only over a core grpc_auth_context, which it offers no public way to create, so
// begin() == end(): properties are found by name (FindPropertyValues, GetPeerIdentity).
class PeerAuthContext final : public ::grpc::AuthContext {
 public:
  explicit PeerAuthContext(const notnets::PeerIdentity& peer);

  bool IsPeerAuthenticated() const override { return true; }
  std::vector<::grpc::string_ref> GetPeerIdentity() const override;
  std::string GetPeerIdentityPropertyName() const override { return identity_name_; }
  std::vector<::grpc::string_ref> FindPropertyValues(const std::string& name) const override;
  ::grpc::AuthPropertyIterator begin() const override;
  ::grpc::AuthPropertyIterator end() const override;
  void AddProperty(const std::string& key, const ::grpc::string_ref& value) override;
  bool SetPeerIdentityPropertyName(const std::string& name) override;

 private:
  // A deque: the string_refs handed out stay valid when a property is added.
  std::deque<std::pair<std::string, std::string>> properties_;
  std::string identity_name_;
};

// A host id as 16 hex digits, as peer() and `notnets ls` show it.
std::string HostText(uint64_t host);

// The peer() of a pool call from `peer` in the pool at `pool_path`:
// "notnets:<pool path>?uid=<uid>&gid=<gid>&pid=<pid>&host=<host id, 16 hex digits>".
std::string PeerString(const std::string& pool_path, const notnets::PeerIdentity& peer);

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_PEER_AUTH_CONTEXT_H_
