// The process's lease keeper: a thread that renews this process's leases (pool/lease.h) and
// watches the leases of processes on other hosts, fencing those that stopped advancing for a
// lease period on this process's clock; and the judgement IsAlive asks of it. The thread does
// nothing that blocks but a process-local mutex held for a table scan, so a live process, however
// busy its other threads, keeps renewing.
#ifndef NOTNETS_POOL_LEASE_KEEPER_H_
#define NOTNETS_POOL_LEASE_KEEPER_H_

#include <cstdint>

namespace notnets::internal {

class Lease;

// What the lease tables say about a process.
enum class LeaseVerdict {
  kAlive,      // its lease advances, or it is being claimed
  kDead,       // fenced (declared dead or gone), stale for a lease period, or in no table
  kAskKernel,  // it runs on this host: its liveness lock answers (process_identity.h)
};

class LeaseKeeper {
 public:
  // Renews `lease` and watches its table until Remove; starts the thread if it is not running.
  static void Add(Lease* lease);
  // When it returns, the keeper no longer uses `lease`.
  static void Remove(Lease* lease);
  // What the tables of the pools this process maps say about the process holding `token`.
  // kAskKernel too when this process maps no pool.
  static LeaseVerdict Judge(uint64_t token);
  // After fork(), in the child, once it has a token: claims a record for it in every table.
  // Starts no thread: a child that only asks about liveness needs none (and a thread started
  // after fork is more than some tools, ThreadSanitizer among them, support).
  static void ClaimInChild(uint64_t token, int32_t pid);
  // After a fence: whether a lease whose record holds `token` was fenced (the process needs a new
  // token, since its peers reclaim what the old one names).
  static bool FencedUnder(uint64_t token);
  // Moves every lease to the identity `token` (Lease::Rejoin). True if a record of the old
  // identity that was not fenced was retired: the old token must stay locked until it is given up.
  static bool Rejoin(uint64_t token, int32_t pid);
  // Starts the thread if there are leases to renew and it is not running: in a child of fork(),
  // once it writes into a pool.
  static void EnsureRunning();
  // Installs the keeper's fork handlers; called before the liveness registry installs its own,
  // so that a fork takes that registry's mutex before the keeper's, the order IsAlive takes them.
  static void Initialize();
};

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_LEASE_KEEPER_H_
