// The library's access to the mapping behind a Pool, which applications never see.
#ifndef NOTNETS_POOL_POOL_ACCESS_H_
#define NOTNETS_POOL_POOL_ACCESS_H_

#include "notnets/pool.h"

namespace notnets::internal {

class PoolAccess {
 public:
  // The mapping of `pool`; valid while `pool` is.
  static PoolMapping& mapping(const Pool& pool) { return *pool.mapping_; }
};

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_POOL_ACCESS_H_
