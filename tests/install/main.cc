// Builds against an installed notnets (find_package) and checks that a pool can be created.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "notnets/pool.h"

int main() {
  std::string name = "install-check-" + std::to_string(::getpid());
  std::shared_ptr<notnets::Pool> pool;
  notnets::Status status = notnets::Pool::Create(name, notnets::PoolOptions(), &pool);
  notnets::Pool::Remove(name);
  std::printf("installed notnets: %s\n", status.ToString().c_str());
  return status.ok() ? 0 : 1;
}
