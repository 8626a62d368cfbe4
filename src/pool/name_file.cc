#include "pool/name_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "pool/pool_file.h"

namespace notnets::internal {

namespace {

constexpr char kNameInfix[] = ".name.";
// Hex digits of a hashed name: two 64-bit hashes.
constexpr size_t kHashDigits = 32;
// What UnpublishedFile adds to a file's name while building it where there is no O_TMPFILE
// (".creating." and 16 hex digits).
constexpr size_t kBuildSuffixBytes = 26;

// FNV-1a from `basis`. Not a cryptographic hash, and it need not be one: a file under a colliding
// name is the first registrant's either way, and its owner gains no other name than the one whose
// file it created first (NameFileLayout::name says which).
uint64_t Fnv1a(std::string_view bytes, uint64_t basis) {
  uint64_t hash = basis;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3;
  }
  return hash;
}

std::string HashedName(std::string_view service) {
  char text[kHashDigits + 1];
  std::snprintf(text, sizeof(text), "%016llx%016llx",
                static_cast<unsigned long long>(Fnv1a(service, 0xcbf29ce484222325)),
                static_cast<unsigned long long>(Fnv1a(service, 0x84222325cbf29ce4)));
  return std::string("#") + text;
}

std::string BaseNameOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The largest size a name file may have: its layout, or one block where the file system rounds
// files up (hugetlbfs).
int64_t MaxNameFileBytes(const struct stat& st) {
  return std::max<int64_t>(sizeof(NameFileLayout), st.st_blksize);
}

// Writes `layout` at the start of the file `fd`; where the file system takes no write() (hugetlbfs)
// through a mapping of one block.
bool WriteLayout(int fd, const NameFileLayout& layout) {
  if (::pwrite(fd, &layout, sizeof(layout), 0) == static_cast<ssize_t>(sizeof(layout))) {
    return true;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || ::ftruncate(fd, MaxNameFileBytes(st)) != 0) return false;
  void* mapped = ::mmap(nullptr, MaxNameFileBytes(st), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mapped == MAP_FAILED) return false;
  std::memcpy(mapped, &layout, sizeof(layout));
  ::munmap(mapped, MaxNameFileBytes(st));
  return true;
}

// True if `layout`, read from a file of `st`, is a whole name file of `service`.
bool WellFormed(const NameFileLayout& layout, const struct stat& st, std::string_view service) {
  return layout.magic == kNameFileMagic && layout.layout_version == kNameFileLayoutVersion &&
         layout.registrant_count <= kMaxRegistrants && layout.name_length <= kNameFileNameBytes &&
         layout.name_length == service.size() &&
         std::memcmp(layout.name, service.data(), service.size()) == 0 &&
         st.st_size >= static_cast<off_t>(sizeof(layout)) && st.st_size <= MaxNameFileBytes(st);
}

}  // namespace

std::string NameFilePath(const std::string& pool_path, std::string_view service) {
  std::string plain = BaseNameOf(pool_path) + kNameInfix + std::string(service);
  bool hashed = service.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos ||
                (!service.empty() && service.front() == '#') ||
                plain.size() + kBuildSuffixBytes > NAME_MAX;
  return pool_path + kNameInfix + (hashed ? HashedName(service) : std::string(service));
}

bool ReadNameFile(const std::string& pool_path, std::string_view service, NameOwner* owner,
                  bool* well_formed) {
  if (well_formed != nullptr) *well_formed = false;
  *owner = NameOwner();
  std::string path = NameFilePath(pool_path, service);
  // Not following a link, not waiting on a FIFO: whatever is there is its owner's.
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  struct stat st {};
  if (fd < 0) {
    if (::lstat(path.c_str(), &st) != 0) return false;
    owner->uid = st.st_uid;
    return true;
  }
  NameFileLayout layout{};
  bool read = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
              ::pread(fd, &layout, sizeof(layout), 0) == static_cast<ssize_t>(sizeof(layout));
  ::close(fd);
  owner->uid = st.st_uid;
  // A file others may write says only what its owner did not let them change: nothing.
  if (!read || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 || !WellFormed(layout, st, service)) {
    return true;
  }
  owner->registrants.assign(layout.registrants, layout.registrants + layout.registrant_count);
  if (well_formed != nullptr) *well_formed = true;
  return true;
}

Status ClaimName(const std::string& pool_path, std::string_view service, uint32_t self_uid,
                 const std::vector<uint32_t>& registrants, NameOwner* owner) {
  if (ReadNameFile(pool_path, service, owner)) return Status::OK;
  NameFileLayout layout{};
  layout.magic = kNameFileMagic;
  layout.layout_version = kNameFileLayoutVersion;
  layout.registrant_count =
      static_cast<uint32_t>(std::min<size_t>(registrants.size(), kMaxRegistrants));
  layout.name_length = static_cast<uint32_t>(std::min(service.size(), kNameFileNameBytes));
  std::copy_n(registrants.begin(), layout.registrant_count, layout.registrants);
  std::memcpy(layout.name, service.data(), layout.name_length);

  std::string path = NameFilePath(pool_path, service);
  UnpublishedFile file;
  Status status = UnpublishedFile::Open(path, 0644, &file);
  if (status.ok() && !WriteLayout(file.fd(), layout)) {
    return Status(StatusCode::UNAVAILABLE,
                  "cannot write name file " + path + ": " + std::strerror(errno));
  }
  // Written once: read-only for its owner too, so that no mistake of the owner's rewrites it.
  if (status.ok() && ::fchmod(file.fd(), 0444) != 0) {
    return Status(StatusCode::UNAVAILABLE,
                  "cannot make name file " + path + " read-only: " + std::strerror(errno));
  }
  if (status.ok()) status = file.Publish();
  if (status.error_code() == StatusCode::ALREADY_EXISTS &&
      ReadNameFile(pool_path, service, owner)) {
    return Status::OK;  // another registrant created it first: the name is that one's
  }
  if (!status.ok()) return status;
  owner->uid = self_uid;
  owner->registrants.assign(layout.registrants, layout.registrants + layout.registrant_count);
  return Status::OK;
}

int RemoveNameFiles(const std::string& pool_path) {
  std::string directory = DirectoryOf(pool_path);
  std::string prefix = BaseNameOf(pool_path) + kNameInfix;
  std::vector<std::string> found;
  DIR* listing = ::opendir(directory.c_str());
  if (listing == nullptr) return 0;
  while (const dirent* entry = ::readdir(listing)) {
    std::string name = entry->d_name;
    if (name.compare(0, prefix.size(), prefix) == 0) found.push_back(directory + "/" + name);
  }
  ::closedir(listing);
  int removed = 0;
  for (const std::string& path : found) {
    // Another pool may be named like this one's name files ("<pool>.name.x"): a pool file is
    // far larger than a name file.
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || st.st_size > MaxNameFileBytes(st)) continue;
    if (::unlink(path.c_str()) == 0) ++removed;
  }
  return removed;
}

}  // namespace notnets::internal
