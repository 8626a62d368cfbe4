#include "grpc/server_auth_contexts.h"

#include "grpc/peer_auth_context.h"

namespace notnets::grpc::internal {

std::shared_ptr<const ::grpc::AuthContext> ServerAuthContexts::Of(
    const notnets::PeerIdentity& server) {
  Key key{server.uid, server.gid, server.pid, server.host};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto found = servers_.find(key); found != servers_.end()) return found->second;
  }
  // Made outside the lock: a rare event, which need not hold up the calls of known servers.
  std::shared_ptr<const ::grpc::AuthContext> made = std::make_shared<PeerAuthContext>(server);
  std::lock_guard<std::mutex> lock(mutex_);
  if (servers_.size() >= kMaxServers) return made;
  return servers_.emplace(key, std::move(made)).first->second;
}

}  // namespace notnets::grpc::internal
