#include "notnets/pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "pool/allocator.h"
#include "pool/directory.h"
#include "pool/pool_mapping.h"

namespace notnets {

Pool::Pool(std::unique_ptr<internal::PoolMapping> mapping) : mapping_(std::move(mapping)) {}

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
  std::unique_ptr<internal::PoolMapping> mapping;
  Status status = internal::PoolMapping::Create(PathFor(name), options, &mapping);
  if (status.ok()) pool->reset(new Pool(std::move(mapping)));
  return status;
}

Status Pool::Attach(const std::string& name, std::shared_ptr<Pool>* pool) {
  std::unique_ptr<internal::PoolMapping> mapping;
  Status status = internal::PoolMapping::Attach(PathFor(name), &mapping);
  if (status.ok()) pool->reset(new Pool(std::move(mapping)));
  return status;
}

Status Pool::AttachOrCreate(const std::string& name, const PoolOptions& options,
                            std::shared_ptr<Pool>* pool) {
  Status status = Attach(name, pool);
  if (status.error_code() != StatusCode::NOT_FOUND) return status;
  status = Create(name, options, pool);
  // Another process may have created it between our attach and our create.
  if (status.error_code() == StatusCode::ALREADY_EXISTS) return Attach(name, pool);
  return status;
}

Status Pool::Remove(const std::string& name) {
  std::string path = PathFor(name);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode)) {
    // A device is not ours to unlink: erase the pool's magic number instead.
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    uint64_t zero = 0;
    bool erased = fd >= 0 && ::pwrite(fd, &zero, sizeof(zero), 0) == sizeof(zero);
    if (fd >= 0) ::close(fd);
    if (!erased) {
      return Status(StatusCode::UNAVAILABLE,
                    "cannot erase pool on " + path + ": " + std::strerror(errno));
    }
    return Status::OK;
  }
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
    stats.services.push_back(info);
  }
  return stats;
}

}  // namespace notnets
