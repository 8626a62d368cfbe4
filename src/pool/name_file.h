// Who owns a service name, kept in a file of its own beside the pool (`<pool>.name.<service>`)
// rather than in directory words every process of the pool may write. The file's owner, as the
// kernel records it, is the name's owner; the file adds the users that owner lets register more
// servers under the name. The first registrant creates it whole and read-only; nobody writes it
// again, and only its owner (or root) can remove it, so a name stays its owner's while its
// servers come and go, until the pool is removed (docs/security.md, "Who owns a service name").
#ifndef NOTNETS_POOL_NAME_FILE_H_
#define NOTNETS_POOL_NAME_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "notnets/status.h"
#include "pool/service_access.h"

namespace notnets::internal {

// "NNF1".
inline constexpr uint32_t kNameFileMagic = 0x31464e4e;
inline constexpr uint32_t kNameFileLayoutVersion = 1;
// The longest service name a name file holds: the directory's limit (kMaxServiceNameBytes).
inline constexpr size_t kNameFileNameBytes = 176;

// The whole of a name file, written once by its creator (docs/memory-layout.md, "Name files").
struct NameFileLayout {
  uint32_t magic;             // kNameFileMagic
  uint32_t layout_version;    // kNameFileLayoutVersion
  uint32_t registrant_count;  // at most kMaxRegistrants
  uint32_t name_length;       // 1 to kNameFileNameBytes
  uint32_t registrants[kMaxRegistrants];
  // The service name: a hashed file name still says which name it belongs to.
  char name[kNameFileNameBytes];
};
static_assert(sizeof(NameFileLayout) == 208);
static_assert(offsetof(NameFileLayout, registrants) == 16);
static_assert(offsetof(NameFileLayout, name) == 32);

// The path of the name file of `service` in the pool at `pool_path`: `<pool path>.name.<service>`,
// or `<pool path>.name.#<32 hex digits of a hash of the name>` when the name holds a '/' or a NUL,
// starts with '#', or would make a file name (or the name it is built under) longer than
// NAME_MAX.
std::string NameFilePath(const std::string& pool_path, std::string_view service);

// Reads the owner of `service`'s name in the pool at `pool_path`, once per call: false if the
// name has no file yet. A file whose content cannot be trusted (not a regular file, unreadable,
// writable by others than its owner, the wrong size, magic, version or name, counts out of
// bounds) is its owner's alone: `owner->registrants` comes back empty and `*well_formed` false.
bool ReadNameFile(const std::string& pool_path, std::string_view service, NameOwner* owner,
                  bool* well_formed = nullptr);

// The owner of `service`'s name, creating its file with this user (`self_uid`) as the owner and
// `registrants` (at most kMaxRegistrants) as the users it lists if the name has none: the file
// appears whole, and of two processes creating it at once one wins and the other reads the
// winner's. UNAVAILABLE if the file can neither be read nor created.
Status ClaimName(const std::string& pool_path, std::string_view service, uint32_t self_uid,
                 const std::vector<uint32_t>& registrants, NameOwner* owner);

// Unlinks every name file of the pool at `pool_path` this user may remove (in a sticky
// directory, its own; root's, all); returns how many. For Pool::Remove.
int RemoveNameFiles(const std::string& pool_path);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_NAME_FILE_H_
