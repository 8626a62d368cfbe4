#include "pool/segment_sweep.h"

#include <dirent.h>
#include <unistd.h>

#include <map>
#include <vector>

#include "pool/pool_file.h"
#include "pool/process_identity.h"
#include "pool/segment.h"

namespace notnets::internal {

int RemoveSegmentsOfDeadCreators(const std::string& pool_path) {
  return RemoveSegmentsOfDeadCreators(pool_path, [](uint64_t token) {
    return IsAlive(ProcessIdentity{0, token});
  });
}

int RemoveSegmentsOfDeadCreators(const std::string& pool_path,
                                 const std::function<bool(uint64_t token)>& alive_now) {
  std::string directory = DirectoryOf(pool_path);
  std::vector<std::string> dead;
  // Asked once per creator: a dead server leaves one file per connection it had not handed over.
  std::map<uint64_t, bool> alive;
  DIR* listing = ::opendir(directory.c_str());
  if (listing == nullptr) return 0;
  while (const dirent* entry = ::readdir(listing)) {
    std::string name = entry->d_name;
    uint64_t creator = Segment::CreatorOf(pool_path, name);
    if (creator == 0) continue;
    auto known = alive.find(creator);
    if (known == alive.end()) {
      known = alive.emplace(creator, alive_now(creator)).first;
    }
    if (!known->second) dead.push_back(name);
  }
  ::closedir(listing);
  int removed = 0;
  for (const std::string& name : dead) {
    if (::unlink((directory + "/" + name).c_str()) == 0) ++removed;
  }
  return removed;
}

}  // namespace notnets::internal
