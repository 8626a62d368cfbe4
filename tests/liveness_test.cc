// Process liveness by lock token (pool/process_identity.h): a forked child gets a token of its
// own, is alive while it runs and dead once it exits, and does not keep its parent alive.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>

#include "gtest/gtest.h"
#include "pool/process_identity.h"
#include "test_pool.h"

namespace notnets {
namespace {

using internal::IsAlive;
using internal::ProcessIdentity;
using internal::SelfIdentity;
using testing::TestPool;

TEST(LivenessTest, AChildIsAliveUntilItExitsAndHasATokenOfItsOwn) {
  TestPool test_pool;
  ProcessIdentity parent = SelfIdentity();
  ASSERT_NE(parent.token, 0u);
  EXPECT_TRUE(IsAlive(parent));
  int to_parent[2];
  int to_child[2];
  ASSERT_EQ(::pipe(to_parent), 0);
  ASSERT_EQ(::pipe(to_child), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ProcessIdentity self = SelfIdentity();
    bool ok = self.token != parent.token && IsAlive(parent) && IsAlive(self);
    ssize_t written = ::write(to_parent[1], &self, sizeof(self));
    char go;
    ssize_t read = ::read(to_child[0], &go, 1);  // exit only when the parent has looked
    ::_exit(ok && written == sizeof(self) && read == 1 ? 0 : 1);
  }
  ASSERT_GT(child, 0);
  ProcessIdentity in_child;
  ASSERT_EQ(::read(to_parent[0], &in_child, sizeof(in_child)), ssize_t{sizeof(in_child)});
  EXPECT_NE(in_child.token, parent.token);
  EXPECT_TRUE(IsAlive(in_child));
  ASSERT_EQ(::write(to_child[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child's checks failed";
  EXPECT_FALSE(IsAlive(in_child));
  EXPECT_TRUE(IsAlive(parent));
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) ::close(fd);
}

TEST(LivenessTest, AnUnsetTokenIsDead) { EXPECT_FALSE(IsAlive(ProcessIdentity{1, 0})); }

}  // namespace
}  // namespace notnets
