// Who may use a service, as its directory entry shows it to tools (`notnets pool inspect`). The
// server decides from its own copy in process memory, never from this one: a process that can
// write the pool could rewrite it (docs/security.md).
#ifndef NOTNETS_POOL_SERVICE_ACCESS_H_
#define NOTNETS_POOL_SERVICE_ACCESS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "pool/shared_memory.h"

namespace notnets::internal {

// Ids an entry has room for; a longer list is shown cut short.
inline constexpr uint32_t kShownCallerIds = 6;

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
  uint8_t reserved[24];
};
static_assert(sizeof(ServiceAccess) == 56);
static_assert(offsetof(ServiceAccess, caller_ids) == 8);

// Writes `callers` into `access` with relaxed stores (the caller writes the entry back).
void WriteShownCallers(const ShownCallers& callers, ServiceAccess* access);
// Reads what WriteShownCallers wrote, each word once; false if the counts are out of range.
bool ReadShownCallers(const ServiceAccess& access, ShownCallers* callers);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_SERVICE_ACCESS_H_
