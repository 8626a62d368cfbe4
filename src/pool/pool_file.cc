#include "pool/pool_file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace notnets::internal {

namespace {

std::string FileSystemName(int64_t type) {
  switch (type) {
    case TMPFS_MAGIC:
      return "tmpfs";
    case HUGETLBFS_MAGIC:
      return "hugetlbfs";
    default:
      return "file system";
  }
}

}  // namespace

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string RandomHex(size_t bytes) {
  std::string hex;
  for (size_t done = 0; done < bytes; done += sizeof(uint64_t)) {
    uint64_t bits = 0;
    while (::getrandom(&bits, sizeof(bits), 0) != sizeof(bits)) {
    }
    char text[17];
    std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(bits));
    hex.append(text, 2 * std::min(sizeof(bits), bytes - done));
  }
  return hex;
}

std::string DescribeFreeSpace(int fd, const std::string& directory) {
  struct statfs fs {};
  if (::fstatfs(fd, &fs) != 0) return "the file system of " + directory + " has 0 bytes free";
  uint64_t free_bytes = uint64_t{fs.f_bavail} * static_cast<uint64_t>(fs.f_bsize);
  return "the " + FileSystemName(fs.f_type) + " at " + directory + " has " +
         std::to_string(free_bytes) + " bytes free";
}

Status UnpublishedFile::Open(const std::string& path, uint32_t mode, UnpublishedFile* file) {
  file->path_ = path;
  file->fd_ = ::open(DirectoryOf(path).c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
  if (file->fd_ < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    // No O_TMPFILE here: a name nobody can guess, which O_EXCL makes ours alone.
    file->build_path_ = path + ".creating." + RandomHex(8);
    file->fd_ =
        ::open(file->build_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  }
  if (file->fd_ < 0) {
    file->build_path_.clear();
    return Status(StatusCode::UNAVAILABLE,
                  "cannot create pool file " + path + ": " + std::strerror(errno));
  }
  // The mode asked for, whatever the process's umask: under the usual 022, a pool meant for a
  // group (0660) would come out 0640, and the group could not write it.
  if (::fchmod(file->fd_, mode) != 0) {
    return Status(StatusCode::UNAVAILABLE,
                  "cannot set the mode of pool file " + path + ": " + std::strerror(errno));
  }
  return Status::OK;
}

UnpublishedFile::~UnpublishedFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!build_path_.empty()) ::unlink(build_path_.c_str());
}

Status UnpublishedFile::Reserve(uint64_t bytes) {
  int error = ::ftruncate(fd_, static_cast<off_t>(bytes)) == 0 ? 0 : errno;
  if (error == 0) error = ::posix_fallocate(fd_, 0, static_cast<off_t>(bytes));
  if (error == 0) return Status::OK;
  return Status(StatusCode::RESOURCE_EXHAUSTED,
                "cannot reserve " + std::to_string(bytes) + " bytes for pool " + path_ + " (" +
                    std::strerror(error) + "): " + DescribeFreeSpace(fd_, DirectoryOf(path_)) +
                    "; free space there or create a smaller pool");
}

Status UnpublishedFile::Publish() {
  int result;
  if (build_path_.empty()) {
    // Naming an unnamed file: through /proc (no privilege needed), else by descriptor (needs
    // CAP_DAC_READ_SEARCH).
    std::string self = "/proc/self/fd/" + std::to_string(fd_);
    result = ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path_.c_str(), AT_SYMLINK_FOLLOW);
    if (result != 0 && errno == ENOENT) {
      result = ::linkat(fd_, "", AT_FDCWD, path_.c_str(), AT_EMPTY_PATH);
    }
  } else {
    result = ::link(build_path_.c_str(), path_.c_str());
  }
  if (result == 0) return Status::OK;
  if (errno == EEXIST) {
    return Status(StatusCode::ALREADY_EXISTS,
                  "pool " + path_ + " was created by another process meanwhile");
  }
  return Status(StatusCode::UNAVAILABLE,
                "cannot publish pool file " + path_ + ": " + std::strerror(errno));
}

int UnpublishedFile::TakeFd() {
  int fd = fd_;
  fd_ = -1;
  if (!build_path_.empty()) ::unlink(build_path_.c_str());
  build_path_.clear();
  return fd;
}

}  // namespace notnets::internal
