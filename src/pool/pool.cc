#include "notnets/pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "pool/allocator.h"
#include "pool/directory.h"
#include "pool/layout.h"
#include "pool/name_file.h"
#include "pool/pool_mapping.h"
#include "pool/process_identity.h"
#include "pool/segment_sweep.h"

namespace notnets {

namespace {

constexpr size_t kMaxPoolNameBytes = 200;
constexpr size_t kMaxPoolPathBytes = 4000;

// Resolves `name` as PathFor does, refusing what could name a file the caller did not mean: a
// relative path (`../etc/passwd`), a `..` component, a NUL byte, or an overlong name.
Status ResolvePath(const std::string& name, std::string* path) {
  *path = Pool::PathFor(name);
  std::string why;
  if (path->find('\0') != std::string::npos) {
    why = "it holds a NUL byte";
  } else if (path->size() > kMaxPoolPathBytes ||
             (name.find('/') == std::string::npos && name.size() > kMaxPoolNameBytes)) {
    why = "it is too long";
  } else if (name.find('/') != std::string::npos && name[0] != '/') {
    why = "a path must be absolute";
  } else if (("/" + *path + "/").find("/../") != std::string::npos || name == "." || name == "..") {
    why = "it holds a '..'";
  }
  if (why.empty()) return Status::OK;
  std::string shown = name;
  for (char& c : shown) c = c == '\0' ? '?' : c;
  return Status(StatusCode::INVALID_ARGUMENT,
                "pool name '" + shown + "' is refused (" + why + "); use a name of 1 to " +
                    std::to_string(kMaxPoolNameBytes) +
                    " bytes without '/', or an absolute path without '..'");
}

// True if the regular file at `path` starts with the pool magic (a finished pool).
bool HoldsPoolMagic(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  uint64_t magic = 0;
  bool read = ::pread(fd, &magic, sizeof(magic), 0) == sizeof(magic);
  ::close(fd);
  return read && magic == internal::kPoolMagic;
}

Status NotAPool(const std::string& path) {
  return Status(StatusCode::FAILED_PRECONDITION,
                path + " is not a notnets pool (no pool magic number); not removed");
}

Status CannotErase(const std::string& path, int error) {
  return Status(StatusCode::UNAVAILABLE,
                "cannot erase pool on " + path + ": " + std::strerror(error));
}

// A device is not ours to unlink: a pool on one is removed by erasing its magic number. Anything
// else on a device (/dev/null, a DAX device holding other data) must be left as it was, so the
// magic is read once and checked through the descriptor that then erases it.
Status EraseDevicePool(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return CannotErase(path, errno);
  uint64_t magic = 0;
  ssize_t read = ::pread(fd, &magic, sizeof(magic), 0);
  Status status;
  if (read < 0) {
    status = CannotErase(path, errno);
  } else if (read != sizeof(magic) || magic != internal::kPoolMagic) {
    status = NotAPool(path);
  } else {
    uint64_t zero = 0;
    if (::pwrite(fd, &zero, sizeof(zero), 0) != sizeof(zero)) status = CannotErase(path, errno);
  }
  ::close(fd);
  return status;
}

}  // namespace

Pool::Pool(std::unique_ptr<internal::PoolMapping> mapping, const PoolOptions& options)
    : mapping_(std::move(mapping)) {
  uint64_t heap_bytes = mapping_->heap_end() - mapping_->heap_offset();
  mapping_->quota().SetLimits(
      options.max_process_connections,
      options.max_process_memory_bytes != 0 ? options.max_process_memory_bytes : heap_bytes / 2);
}

Pool::~Pool() = default;

std::string Pool::PathFor(const std::string& name) {
  std::string resolved = name;
  if (resolved.empty()) {
    const char* from_env = std::getenv("NOTNETS_POOL");
    resolved = from_env != nullptr && *from_env != '\0' ? from_env : "default";
  }
  if (resolved.find('/') != std::string::npos) return resolved;
  return "/dev/shm/notnets-" + resolved;
}

Status Pool::Create(const std::string& name, const PoolOptions& options,
                    std::shared_ptr<Pool>* pool) {
  std::string path;
  Status status = ResolvePath(name, &path);
  if (!status.ok()) return status;
  std::unique_ptr<internal::PoolMapping> mapping;
  status = internal::PoolMapping::Create(path, options, &mapping);
  if (status.ok()) pool->reset(new Pool(std::move(mapping), options));
  // A later process removes what a crash left: processes of the pool's last run may all be dead.
  if (status.ok()) internal::RemoveSegmentsOfDeadCreators(path);
  return status;
}

Status Pool::Attach(const std::string& name, std::shared_ptr<Pool>* pool) {
  return Attach(name, PoolOptions(), pool);
}

Status Pool::Attach(const std::string& name, const PoolOptions& options,
                    std::shared_ptr<Pool>* pool) {
  std::string path;
  Status status = ResolvePath(name, &path);
  if (!status.ok()) return status;
  std::unique_ptr<internal::PoolMapping> mapping;
  status = internal::PoolMapping::Attach(path, options.trusted_owners, &mapping);
  if (status.ok()) pool->reset(new Pool(std::move(mapping), options));
  // A later process removes what a crash left: processes of the pool's last run may all be dead.
  if (status.ok()) internal::RemoveSegmentsOfDeadCreators(path);
  return status;
}

Status Pool::AttachOrCreate(const std::string& name, const PoolOptions& options,
                            std::shared_ptr<Pool>* pool) {
  Status status = Attach(name, options, pool);
  if (status.error_code() != StatusCode::NOT_FOUND) return status;
  status = Create(name, options, pool);
  // Another process may have created it between our attach and our create.
  if (status.error_code() == StatusCode::ALREADY_EXISTS) return Attach(name, options, pool);
  return status;
}

Status Pool::Remove(const std::string& name) {
  std::string path;
  Status resolved = ResolvePath(name, &path);
  if (!resolved.ok()) return resolved;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode)) {
    Status erased = EraseDevicePool(path);
    if (erased.ok()) internal::RemoveNameFiles(path);
    return erased;
  }
  if (::lstat(path.c_str(), &st) == 0 && (!S_ISREG(st.st_mode) || !HoldsPoolMagic(path))) {
    return NotAPool(path);
  }
  // Its segments first, while the pool file can still say who lives: a process that maps the
  // pool holds its token's byte locked in it (process_identity.h). Segments of live processes
  // stay: they may still be setting up a connection.
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    internal::RemoveSegmentsOfDeadCreators(
        path, [fd](uint64_t token) { return internal::LockedIn(fd, token); });
    ::close(fd);
  }
  // The names end with the pool: a pool created again at the path starts with every name free.
  internal::RemoveNameFiles(path);
  if (::unlink(path.c_str()) != 0) {
    StatusCode code = errno == ENOENT ? StatusCode::NOT_FOUND : StatusCode::UNAVAILABLE;
    return Status(code, "cannot remove pool " + path + ": " + std::strerror(errno));
  }
  return Status::OK;
}

const std::string& Pool::path() const { return mapping_->path(); }

PoolStats Pool::Stats() const {
  internal::Allocator allocator(mapping_.get());
  internal::Directory directory(mapping_.get(), &allocator);
  const internal::PoolHeader* header = mapping_->header();
  PoolStats stats;
  stats.path = mapping_->path();
  stats.layout_version = header->layout_version;
  stats.size_bytes = mapping_->size();
  stats.heap_bytes = mapping_->heap_end() - mapping_->heap_offset();
  stats.coherence = static_cast<CoherenceMode>(header->coherence);
  internal::HeapUsage usage = allocator.Usage();
  stats.heap_used_bytes = usage.used_bytes;
  stats.heap_free_bytes = usage.free_bytes;
  stats.blocks_in_use = usage.blocks_in_use;
  for (uint32_t i = 0; i < mapping_->max_services(); ++i) {
    std::string name = directory.NameOf(i);
    if (name.empty()) continue;
    internal::ServiceEntry* entry = directory.entry(i);
    internal::ServiceView view;
    PoolStats::ServiceInfo info;
    info.name = name;
    info.server_pid = static_cast<int32_t>(entry->server_pid.load(std::memory_order_relaxed));
    info.method_count =
        directory.Lookup(name, &view).ok() ? static_cast<uint32_t>(view.methods.size()) : 0;
    info.connections_accepted = entry->connections_accepted.load(std::memory_order_relaxed);
    info.server_uid = static_cast<uint32_t>(entry->server_uid.load(std::memory_order_relaxed));
    internal::ShownCallers callers;
    if (internal::ReadShownCallers(entry->access, &callers)) {
      info.caller_uids = callers.uids;
      info.caller_gids = callers.gids;
      info.any_caller = callers.anyone;
      info.callers_cut_short = callers.truncated;
    }
    // The name file is the kernel's record of the owner; the directory's copy, which every
    // party in the pool can write, stands in only for a name without one.
    internal::NameOwner owner;
    if (!internal::ReadNameFile(path(), name, &owner))
      owner = internal::ReadNameOwner(entry->access);
    info.owner_uid = owner.uid;
    info.registrant_uids = owner.registrants;
    stats.services.push_back(info);
  }
  return stats;
}

bool Pool::HasServiceName(std::string_view service) const {
  internal::NameOwner owner;
  return internal::ReadNameFile(path(), service, &owner);
}

}  // namespace notnets
