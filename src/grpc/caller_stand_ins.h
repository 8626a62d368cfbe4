// The stand-in calls (stand_in_call.h) a pool server lends to the contexts of its directly
// dispatched calls, one per caller, so that each context's peer() names its caller (uid, gid,
// pid, host) and its auth_context() carries them (peer_auth_context.h).
#ifndef NOTNETS_GRPC_CALLER_STAND_INS_H_
#define NOTNETS_GRPC_CALLER_STAND_INS_H_

#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "grpc/cancel_watcher.h"
#include "grpc/stand_in_call.h"
#include "notnets/server.h"

namespace notnets::grpc::internal {

class CallerStandIns {
 public:
  // Stand-ins of the server of the pool at `pool_path`.
  explicit CallerStandIns(std::string pool_path);
  // After every context a stand-in was lent to is gone.
  ~CallerStandIns();
  CallerStandIns(const CallerStandIns&) = delete;
  CallerStandIns& operator=(const CallerStandIns&) = delete;

  // As StandInCall::Lend, with the stand-in of `caller`; also gives `context` the AuthContext of
  // `caller`. The first call of a caller makes its stand-in (a lame channel and a call); past
  // kMaxCallers callers, a new caller's peer() names only the pool ("notnets:<pool path>"), and
  // its auth_context() is still its own.
  void Lend(::grpc::ServerContextBase* context, WatchedCall* call, const char* method,
            ::grpc::internal::RpcMethod::RpcType type, const notnets::PeerIdentity& caller) const;

  // Callers whose stand-ins are kept for the server's life.
  static constexpr size_t kMaxCallers = 4096;

 private:
  struct Caller {
    std::unique_ptr<StandInCall> stand_in;
    std::shared_ptr<const ::grpc::AuthContext> auth;
  };
  using Key = std::tuple<uint32_t, uint32_t, int32_t, uint64_t>;

  const std::string pool_path_;
  const StandInCall anonymous_;  // for callers past kMaxCallers
  mutable std::mutex mutex_;
  mutable std::map<Key, Caller> callers_;  // guarded by mutex_; entries never move or go
};

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_CALLER_STAND_INS_H_
