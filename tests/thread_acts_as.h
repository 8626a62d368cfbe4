// Acting as another user on one thread, for the tests that show what the kernel refuses a second
// uid (they run as root, as CI does).
#ifndef NOTNETS_TESTS_THREAD_ACTS_AS_H_
#define NOTNETS_TESTS_THREAD_ACTS_AS_H_

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace notnets::testing {

// Acts as user `uid` with effective group `gid` (by default the group of the same number) on the
// calling thread only, back to root at the end of the scope. Raw system calls: glibc's setresuid
// would switch every thread, and the server's workers in the same process must stay root.
struct ThreadActsAs {
  explicit ThreadActsAs(uid_t uid) : ThreadActsAs(uid, uid) {}
  ThreadActsAs(uid_t uid, gid_t gid) {
    ok = ::syscall(SYS_setresgid, -1, gid, -1) == 0 && ::syscall(SYS_setresuid, -1, uid, -1) == 0;
  }
  ~ThreadActsAs() {
    ok = ::syscall(SYS_setresuid, -1, 0, -1) == 0 && ::syscall(SYS_setresgid, -1, 0, -1) == 0;
  }
  ThreadActsAs(const ThreadActsAs&) = delete;
  ThreadActsAs& operator=(const ThreadActsAs&) = delete;
  // Whether the last switch (to the user, or back to root) worked.
  bool ok;
};

}  // namespace notnets::testing

#endif  // NOTNETS_TESTS_THREAD_ACTS_AS_H_
