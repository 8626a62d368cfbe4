// Identifies a process to the other users of a pool, whatever pid namespace either one is in.
// On one kernel by a lock (below); across kernels by the lease table (pool/lease_keeper.h).
//
// Each process picks a random 62-bit token and holds an open-file-description (OFD) write lock on
// the byte at offset `token` of every pool file it maps (far past the file's end: the lock needs
// no bytes). The kernel drops the lock the moment the process dies, and its lock table is shared
// by every namespace of one kernel, so a peer asks "is the byte still locked?" (F_OFD_GETLK)
// instead of looking the pid up. See docs/protocol.md, "Liveness".
#ifndef NOTNETS_POOL_PROCESS_IDENTITY_H_
#define NOTNETS_POOL_PROCESS_IDENTITY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "notnets/status.h"

namespace notnets::internal {

struct ProcessIdentity {
  int32_t pid = 0;     // in the process's own pid namespace: for messages only
  uint64_t token = 0;  // the byte the process holds locked in the pool files it maps; 0: none
};

// The identity of the calling process. After fork() the child gets a token of its own.
ProcessIdentity SelfIdentity();

// Called by the lease keeper once a lease of this process was fenced: the process takes a new
// token (locked in every pool file it maps) if a record holding the current one was fenced, and
// every lease claims a record for it in a new epoch (Lease::Rejoin). The old token's lock is
// dropped unless a lease retired an unfenced record of it, which peers of this host judge by
// that lock until the record is given up; it is then kept while the process lives. Everything
// the process made under the old identity writes nothing more (Lease::MayWrite(epoch)).
void RejoinAfterFence();

// False only if the process is known to be gone. The lease tables of the pools this process maps
// decide (pool/lease_keeper.h): a process of another host is alive while its lease advances; one
// of this host is alive while a pool file this process maps has its token's byte locked; one that
// holds no lease record (it left, or was fenced) is dead. True for this process itself, and when
// nothing can be asked (no pool mapped).
bool IsAlive(const ProcessIdentity& identity);

// Only the kernel's answer: whether a process of this kernel holds `token`'s byte locked (true if
// nothing can be asked). For the lease table, to free the records of this host's dead processes.
bool KernelSaysAlive(uint64_t token);

// Whether a process of this kernel holds `token`'s byte locked in the pool file open as `fd`
// (true if the kernel cannot say): for a process that does not map that pool.
bool LockedIn(int fd, uint64_t token);

// Keeps this process's token locked in one pool file for as long as it lives. PoolMapping owns
// one; several mappings of one file share its lock.
class LivenessLock {
 public:
  // Takes the lock on the file open as `fd` (opened read-write; LivenessLock takes it over and
  // closes it). `path` names the file in errors and is reopened after fork(). UNAVAILABLE if the
  // file system refuses the lock.
  static Status Take(int fd, const std::string& path, std::unique_ptr<LivenessLock>* lock);

  ~LivenessLock();
  LivenessLock(const LivenessLock&) = delete;
  LivenessLock& operator=(const LivenessLock&) = delete;

 private:
  LivenessLock(uint64_t device, uint64_t inode) : device_(device), inode_(inode) {}

  uint64_t device_;
  uint64_t inode_;
};

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_PROCESS_IDENTITY_H_
