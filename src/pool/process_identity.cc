#include "pool/process_identity.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "pool/lease_keeper.h"

namespace notnets::internal {

namespace {

// Tokens lie in [2^62, 2^63): valid lock offsets, never 0, and a random collision between two
// live processes has a chance of 2^-62.
constexpr uint64_t kTokenBase = 1ull << 62;

// A pool file this process holds its token locked in, through an open file description of its
// own (OFD locks belong to the description, so a lock taken through it is this process's alone).
struct LockedFile {
  uint64_t device;
  uint64_t inode;
  int fd;    // -1 in a child after fork() until Renew reopens it
  int refs;  // LivenessLocks of this file
  std::string path;
};

// The process's token and the files that hold it. One per process, never destroyed (locks must
// outlive static destruction while other threads may still call).
struct Registry {
  std::mutex mutex;
  uint64_t token = 0;  // 0: to be chosen (first use, or a child after fork)
  int32_t pid = 0;
  std::vector<LockedFile> files;
};

Registry* registry = nullptr;

// fork() duplicates the parent's descriptions, and with them its locks: the child must drop its
// references at once, or the parent would look alive as long as the child lives.
void LockBeforeFork() { registry->mutex.lock(); }
void UnlockAfterFork() { registry->mutex.unlock(); }
void ForgetInChild() {
  for (LockedFile& file : registry->files) {
    if (file.fd >= 0) ::close(file.fd);
    file.fd = -1;
  }
  registry->token = 0;
  registry->mutex.unlock();
}

Registry& TheRegistry() {
  static std::once_flag once;
  std::call_once(once, [] {
    LeaseKeeper::Initialize();
    registry = new Registry;
    ::pthread_atfork(LockBeforeFork, UnlockAfterFork, ForgetInChild);
  });
  return *registry;
}

struct flock ByteOf(uint64_t token, short type) {
  struct flock byte {};
  byte.l_type = type;
  byte.l_whence = SEEK_SET;
  byte.l_start = static_cast<off_t>(token);
  byte.l_len = 1;
  return byte;
}

bool LockToken(int fd, uint64_t token) {
  struct flock byte = ByteOf(token, F_WRLCK);
  return ::fcntl(fd, F_OFD_SETLK, &byte) == 0;
}

uint64_t RandomToken() {
  uint64_t bits = 0;
  while (::getrandom(&bits, sizeof(bits), 0) != sizeof(bits)) {
  }
  return kTokenBase | (bits >> 2);
}

// Chooses a token if there is none, and locks it in every file (reopened after fork; a file that
// was replaced meanwhile is left unlocked). Called with the registry's mutex held.
void Renew(Registry& r) {
  if (r.token != 0) return;
  r.token = RandomToken();
  r.pid = static_cast<int32_t>(::getpid());
  for (LockedFile& file : r.files) {
    if (file.fd >= 0) continue;
    int fd = ::open(file.path.c_str(), O_RDWR | O_CLOEXEC);
    struct stat st {};
    if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_dev == file.device && st.st_ino == file.inode &&
        LockToken(fd, r.token)) {
      file.fd = fd;
    } else if (fd >= 0) {
      ::close(fd);
    }
  }
  // A child of fork(): the parent's lease records are not its own.
  LeaseKeeper::ClaimInChild(r.token, r.pid);
}

// Whether a process of this kernel holds `token`'s byte locked in a pool file this process maps
// (true if none can be asked). Called with the registry's mutex held.
bool LockedInSomeFile(const Registry& r, uint64_t token) {
  bool asked = false;
  for (const LockedFile& file : r.files) {
    if (file.fd < 0) continue;
    struct flock byte = ByteOf(token, F_WRLCK);
    if (::fcntl(file.fd, F_OFD_GETLK, &byte) != 0) continue;
    asked = true;
    if (byte.l_type != F_UNLCK) return true;
  }
  return !asked;
}

void UnlockToken(int fd, uint64_t token) {
  struct flock byte = ByteOf(token, F_UNLCK);
  ::fcntl(fd, F_OFD_SETLK, &byte);
}

}  // namespace

void RejoinAfterFence() {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  Renew(r);
  uint64_t old_token = r.token;
  if (LeaseKeeper::FencedUnder(old_token)) {
    uint64_t token = RandomToken();
    for (size_t i = 0; i < r.files.size(); ++i) {
      if (r.files[i].fd < 0 || LockToken(r.files[i].fd, token)) continue;
      // Taken by another process (a 2^-62 chance) or refused: try again at the keeper's next tick.
      for (size_t j = 0; j < i; ++j) {
        if (r.files[j].fd >= 0) UnlockToken(r.files[j].fd, token);
      }
      return;
    }
    r.token = token;
  }
  bool retired = LeaseKeeper::Rejoin(r.token, r.pid);
  if (r.token == old_token || retired) return;
  for (const LockedFile& file : r.files) {
    if (file.fd >= 0) UnlockToken(file.fd, old_token);
  }
}

ProcessIdentity SelfIdentity() {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  Renew(r);
  return ProcessIdentity{r.pid, r.token};
}

bool IsAlive(const ProcessIdentity& identity) {
  if (identity.token == 0) return false;
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  Renew(r);
  if (identity.token == r.token) return true;
  switch (LeaseKeeper::Judge(identity.token)) {
    case LeaseVerdict::kAlive:
      return true;
    case LeaseVerdict::kDead:
      return false;
    case LeaseVerdict::kAskKernel:
      break;
  }
  return LockedInSomeFile(r, identity.token);
}

bool LockedIn(int fd, uint64_t token) {
  struct flock byte = ByteOf(token, F_WRLCK);
  return ::fcntl(fd, F_OFD_GETLK, &byte) != 0 || byte.l_type != F_UNLCK;
}

bool KernelSaysAlive(uint64_t token) {
  if (token == 0) return false;
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  Renew(r);
  return token == r.token || LockedInSomeFile(r, token);
}

Status LivenessLock::Take(int fd, const std::string& path, std::unique_ptr<LivenessLock>* out) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  Renew(r);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int error = errno;
    ::close(fd);
    return Status(StatusCode::UNAVAILABLE,
                  "cannot take the liveness lock on pool " + path + ": " + std::strerror(error));
  }
  uint64_t device = st.st_dev;
  uint64_t inode = st.st_ino;
  for (LockedFile& file : r.files) {
    if (file.device != device || file.inode != inode) continue;
    if (file.fd < 0 && LockToken(fd, r.token)) {
      file.fd = fd;
    } else {
      ::close(fd);
    }
    ++file.refs;
    out->reset(new LivenessLock(device, inode));
    return Status::OK;
  }
  if (!LockToken(fd, r.token)) {
    int error = errno;
    ::close(fd);
    return Status(StatusCode::UNAVAILABLE,
                  "cannot take the liveness lock on pool " + path + ": " + std::strerror(error));
  }
  r.files.push_back(LockedFile{device, inode, fd, 1, path});
  out->reset(new LivenessLock(device, inode));
  return Status::OK;
}

LivenessLock::~LivenessLock() {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (auto file = r.files.begin(); file != r.files.end(); ++file) {
    if (file->device != device_ || file->inode != inode_) continue;
    if (--file->refs == 0) {
      if (file->fd >= 0) ::close(file->fd);
      r.files.erase(file);
    }
    return;
  }
}

}  // namespace notnets::internal
