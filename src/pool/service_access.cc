#include "pool/service_access.h"

#include <algorithm>

namespace notnets::internal {

namespace {

constexpr uint64_t kCountMask = 0xffff;
constexpr uint64_t kAnyoneBit = uint64_t{1} << 32;

}  // namespace

void WriteShownCallers(const ShownCallers& callers, ServiceAccess* access) {
  uint64_t uid_count = std::min<uint64_t>(callers.uids.size(), kCountMask);
  uint64_t gid_count = std::min<uint64_t>(callers.gids.size(), kCountMask);
  access->callers.store(uid_count | gid_count << 16 | (callers.anyone ? kAnyoneBit : 0),
                        std::memory_order_relaxed);
  uint32_t ids[kShownCallerIds] = {};
  uint32_t shown = 0;
  for (uint32_t uid : callers.uids) {
    if (shown < kShownCallerIds) ids[shown++] = uid;
  }
  for (uint32_t gid : callers.gids) {
    if (shown < kShownCallerIds) ids[shown++] = gid;
  }
  for (uint32_t i = 0; i < kShownCallerIds / 2; ++i) {
    access->caller_ids[i].store(ids[2 * i] | uint64_t{ids[2 * i + 1]} << 32,
                                std::memory_order_relaxed);
  }
}

bool NameOwner::Allows(uint32_t user) const {
  return user == uid ||
         std::find(registrants.begin(), registrants.end(), user) != registrants.end();
}

void WriteNameOwner(const NameOwner& owner, ServiceAccess* access) {
  uint32_t ids[kMaxRegistrants] = {};
  uint64_t count = std::min<uint64_t>(owner.registrants.size(), kMaxRegistrants);
  for (uint64_t i = 0; i < count; ++i) ids[i] = owner.registrants[i];
  access->owner.store(owner.uid | count << 32, std::memory_order_relaxed);
  for (uint32_t i = 0; i < kMaxRegistrants / 2; ++i) {
    access->registrants[i].store(ids[2 * i] | uint64_t{ids[2 * i + 1]} << 32,
                                 std::memory_order_relaxed);
  }
}

NameOwner ReadNameOwner(const ServiceAccess& access) {
  uint64_t word = access.owner.load(std::memory_order_relaxed);
  uint32_t ids[kMaxRegistrants];
  for (uint32_t i = 0; i < kMaxRegistrants / 2; ++i) {
    uint64_t pair = access.registrants[i].load(std::memory_order_relaxed);
    ids[2 * i] = static_cast<uint32_t>(pair);
    ids[2 * i + 1] = static_cast<uint32_t>(pair >> 32);
  }
  NameOwner owner;
  owner.uid = static_cast<uint32_t>(word);
  uint64_t count = std::min<uint64_t>(word >> 32 & 0xff, kMaxRegistrants);
  owner.registrants.assign(ids, ids + count);
  return owner;
}

bool ReadShownCallers(const ServiceAccess& access, ShownCallers* callers) {
  uint64_t word = access.callers.load(std::memory_order_relaxed);
  if ((word & ~(kCountMask | kCountMask << 16 | kAnyoneBit)) != 0) return false;
  uint64_t uid_count = word & kCountMask;
  uint64_t gid_count = word >> 16 & kCountMask;
  uint32_t ids[kShownCallerIds];
  for (uint32_t i = 0; i < kShownCallerIds / 2; ++i) {
    uint64_t pair = access.caller_ids[i].load(std::memory_order_relaxed);
    ids[2 * i] = static_cast<uint32_t>(pair);
    ids[2 * i + 1] = static_cast<uint32_t>(pair >> 32);
  }
  *callers = ShownCallers();
  callers->anyone = (word & kAnyoneBit) != 0;
  callers->truncated = uid_count + gid_count > kShownCallerIds;
  uint32_t next = 0;
  for (uint64_t i = 0; i < uid_count && next < kShownCallerIds; ++i) {
    callers->uids.push_back(ids[next++]);
  }
  for (uint64_t i = 0; i < gid_count && next < kShownCallerIds; ++i) {
    callers->gids.push_back(ids[next++]);
  }
  return true;
}

}  // namespace notnets::internal
