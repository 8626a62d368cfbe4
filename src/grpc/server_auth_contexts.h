// The grpc::AuthContexts a pool channel gives the client contexts of its calls to one service
// once a server answered: the server's identity (peer_auth_context.h), as a handler's context
// carries its caller's.
#ifndef NOTNETS_GRPC_SERVER_AUTH_CONTEXTS_H_
#define NOTNETS_GRPC_SERVER_AUTH_CONTEXTS_H_

#include <grpcpp/security/auth_context.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "notnets/peer_identity.h"

namespace notnets::grpc::internal {

class ServerAuthContexts {
 public:
  // The AuthContext of `server`, made by the first call that reached it and shared with the
  // later ones (a service's servers are few: its replicas, and their restarts); past kMaxServers
  // identities, a new one's is made for each call.
  std::shared_ptr<const ::grpc::AuthContext> Of(const notnets::PeerIdentity& server);

  static constexpr size_t kMaxServers = 64;

 private:
  using Key = std::tuple<uint32_t, uint32_t, int32_t, uint64_t>;

  std::mutex mutex_;
  std::map<Key, std::shared_ptr<const ::grpc::AuthContext>> servers_;  // guarded by mutex_
};

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_SERVER_AUTH_CONTEXTS_H_
