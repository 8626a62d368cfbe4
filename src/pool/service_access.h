// Who may use a service, as its directory entry shows it, for tools (`notnets pool inspect`): who
// owns the name (decided by the name's file, pool/name_file.h) and who may call (decided by the
// server from its own copy in process memory). A process that can write the pool can rewrite
// either, and so change only what tools show (docs/security.md).
#ifndef NOTNETS_POOL_SERVICE_ACCESS_H_
#define NOTNETS_POOL_SERVICE_ACCESS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "pool/shared_memory.h"

namespace notnets::internal {

// Ids an entry has room for; a longer list is shown cut short.
inline constexpr uint32_t kShownCallerIds = 6;

// Other users an owner lets register servers under its name, at most.
inline constexpr uint32_t kMaxRegistrants = 4;

// Who a service name belongs to: the uid that first registered it, and the uids it lets
// register more servers under the name (its name file says). Every entry of the name shows its
// owner's.
struct NameOwner {
  uint32_t uid = 0;
  std::vector<uint32_t> registrants;  // at most kMaxRegistrants

  // True if user `uid` may register a server under the name.
  bool Allows(uint32_t user) const;
};

// The callers a server accepts, as shown: its own uid first, then the uids and gids it lists.
struct ShownCallers {
  std::vector<uint32_t> uids;
  std::vector<uint32_t> gids;
  bool anyone = false;     // every caller is accepted
  bool truncated = false;  // the server lists more ids than the entry shows
};

// The part of a directory entry (ServiceEntry::access) that authorization added. Written by the
// entry's server alone, before the entry turns kActive, and immutable while it is.
struct ServiceAccess {
  // Listed uids (bits 0..15), listed gids (bits 16..31), and bit 32 set if anyone may call.
  SharedWord callers;
  // The first kShownCallerIds ids, uids then gids, two per word (the lower half first).
  SharedWord caller_ids[kShownCallerIds / 2];
  // The name's owner uid (bits 0..31) and how many registrants it lists (bits 32..39).
  SharedWord owner;
  // Those registrants' uids, two per word (the lower half first).
  SharedWord registrants[kMaxRegistrants / 2];
};
static_assert(sizeof(ServiceAccess) == 56);
static_assert(offsetof(ServiceAccess, caller_ids) == 8);
static_assert(offsetof(ServiceAccess, owner) == 32);
static_assert(offsetof(ServiceAccess, registrants) == 40);

// What a server writes into the entries it registers: who may call it, and whom it lets
// register under the names it is the first to register.
struct RegistrationAccess {
  ShownCallers callers;
  std::vector<uint32_t> registrants;  // at most kMaxRegistrants
};

// Writes `callers` into `access` with relaxed stores (the caller writes the entry back).
void WriteShownCallers(const ShownCallers& callers, ServiceAccess* access);
// Reads what WriteShownCallers wrote, each word once; false if the counts are out of range.
bool ReadShownCallers(const ServiceAccess& access, ShownCallers* callers);
// Writes `owner` (at most kMaxRegistrants registrants) into `access` with relaxed stores.
void WriteNameOwner(const NameOwner& owner, ServiceAccess* access);
// Reads what WriteNameOwner wrote, each word once; a count past kMaxRegistrants reads as
// kMaxRegistrants (a corrupt entry can only name fewer registrants than it holds).
NameOwner ReadNameOwner(const ServiceAccess& access);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_SERVICE_ACCESS_H_
