// Who the other party of a connection is: the caller as its server sees it
// (ServerContext::peer_identity()), or the server as its caller sees it
// (ClientContext::server_identity()).
#ifndef NOTNETS_PEER_IDENTITY_H_
#define NOTNETS_PEER_IDENTITY_H_

#include <cstdint>

namespace notnets {

// The party's identity as this side learned it over their connection.
struct PeerIdentity {
  // The party's effective user and group when it made its segment of the connection, as the
  // kernel recorded them (the owner of that segment's file): verified, nothing the party writes
  // changes them.
  uint32_t uid = 0;
  uint32_t gid = 0;
  // The pid and host id (a hash of the host's identity, as `notnets ls` shows host ids) the
  // party wrote in the pool (a caller in its connection record, a server in its service
  // entry): unverified, for logs only.
  int32_t pid = 0;
  uint64_t host = 0;
};

}  // namespace notnets

#endif  // NOTNETS_PEER_IDENTITY_H_
