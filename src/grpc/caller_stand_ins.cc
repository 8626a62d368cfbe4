#include "grpc/caller_stand_ins.h"

#include <utility>

#include "grpc/peer_auth_context.h"
#include "grpc/server_context_access.h"

namespace notnets::grpc::internal {

CallerStandIns::CallerStandIns(std::string pool_path)
    : pool_path_(std::move(pool_path)), anonymous_("notnets:" + pool_path_) {}

CallerStandIns::~CallerStandIns() = default;

void CallerStandIns::Lend(::grpc::ServerContextBase* context, WatchedCall* call, const char* method,
                          ::grpc::internal::RpcMethod::RpcType type,
                          const notnets::PeerIdentity& caller) const {
  const StandInCall* stand_in = &anonymous_;
  std::shared_ptr<const ::grpc::AuthContext> auth;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Key key{caller.uid, caller.gid, caller.pid, caller.host};
    auto found = callers_.find(key);
    if (found == callers_.end() && callers_.size() < kMaxCallers) {
      Caller made{std::make_unique<StandInCall>(PeerString(pool_path_, caller)),
                  std::make_shared<PeerAuthContext>(caller)};
      found = callers_.emplace(key, std::move(made)).first;
    }
    if (found != callers_.end()) {
      stand_in = found->second.stand_in.get();
      auth = found->second.auth;
    }
  }
  if (auth == nullptr) auth = std::make_shared<PeerAuthContext>(caller);
  stand_in->Lend(context, call, method, type);
  SetAuthContext(context, std::move(auth));
}

}  // namespace notnets::grpc::internal
