// The runtime's access to the parts of ClientContext that users only read.
#ifndef NOTNETS_RPC_CLIENT_CONTEXT_ACCESS_H_
#define NOTNETS_RPC_CLIENT_CONTEXT_ACCESS_H_

#include <string>

#include "notnets/client_context.h"

namespace notnets::internal {

class ClientContextAccess {
 public:
  static Metadata* server_initial_metadata(ClientContext* context) {
    return &context->server_initial_metadata_;
  }
  static Metadata* server_trailing_metadata(ClientContext* context) {
    return &context->server_trailing_metadata_;
  }
  // The token of an at-most-once call, made at its first attempt.
  static uint64_t CallToken(ClientContext* context);

  // `peer` must live as long as the process (see InternPeerName).
  static void set_peer(ClientContext* context, const std::string* peer) { context->peer_ = peer; }
  static void set_server_identity(ClientContext* context, const PeerIdentity& server) {
    context->server_identity_ = server;
  }
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_CLIENT_CONTEXT_ACCESS_H_
