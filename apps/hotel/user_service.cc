// user: usernames to password hashes, in memory. The original stores SHA-256 hashes in MongoDB;
// a non-cryptographic hash keeps the work per call small and the same in every process.
#include <string>
#include <unordered_map>

#include "call_context.h"
#include "hash.h"
#include "services.h"
#include "user.grpc.pb.h"

namespace hotel {
namespace {

class UserService final : public hotel::user::User::Service {
 public:
  explicit UserService(const Dataset& data) {
    for (int i = 0; i < data.user_count; ++i) hashes_[UserName(i)] = Fnv1a(UserPassword(i));
  }

  grpc::Status CheckUser(grpc::ServerContext* context, const hotel::user::CheckUserRequest* request,
                         hotel::user::CheckUserResult* result) override {
    grpc::Status traced = RequireTraceId(*context);
    if (!traced.ok()) return traced;
    auto user = hashes_.find(request->username());
    result->set_correct(user != hashes_.end() && user->second == Fnv1a(request->password()));
    return grpc::Status::OK;
  }

 private:
  std::unordered_map<std::string, uint64_t> hashes_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewUserService(const Dataset& data) {
  return std::make_unique<UserService>(data);
}

}  // namespace hotel
