// Which pool a channel or server uses when its options name none.
#ifndef NOTNETS_GRPC_POOL_NAME_H_
#define NOTNETS_GRPC_POOL_NAME_H_

#include <cstdlib>
#include <string>

namespace notnets::grpc::internal {

// `configured` if set, else $NOTNETS_POOL, else "default".
inline std::string PoolName(const std::string& configured) {
  if (!configured.empty()) return configured;
  const char* from_environment = std::getenv("NOTNETS_POOL");
  return from_environment != nullptr && *from_environment != '\0' ? from_environment : "default";
}

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_POOL_NAME_H_
