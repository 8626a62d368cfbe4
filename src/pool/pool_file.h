// Creating a pool file that nobody can see, pre-empt or take over before it is whole, and whose
// memory is reserved up front (a sparse file on a full tmpfs would fail later, with SIGBUS, in
// whichever process first touched a missing page).
#ifndef NOTNETS_POOL_POOL_FILE_H_
#define NOTNETS_POOL_POOL_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "notnets/status.h"

namespace notnets::internal {

// The directory part of `path` ("." if it has none).
std::string DirectoryOf(const std::string& path);

// `bytes` random bytes from the kernel, as lowercase hex digits: names no other user can guess.
std::string RandomHex(size_t bytes);

// "the <tmpfs|hugetlbfs|file system> at <directory> has <n> bytes free", for the file open as
// `fd` in `directory`: what an error about a full file system tells its reader.
std::string DescribeFreeSpace(int fd, const std::string& directory);

// A file being built for `path`: unnamed (O_TMPFILE) where the file system allows, otherwise
// under a random name with O_EXCL. Discarded (closed and unlinked) on destruction unless
// Publish succeeded; the descriptor then stays with the caller (release it with TakeFd).
class UnpublishedFile {
 public:
  // Opens the file in the directory of `path` with permissions `mode`. UNAVAILABLE on failure.
  static Status Open(const std::string& path, uint32_t mode, UnpublishedFile* file);

  UnpublishedFile() = default;
  ~UnpublishedFile();
  UnpublishedFile(const UnpublishedFile&) = delete;
  UnpublishedFile& operator=(const UnpublishedFile&) = delete;

  int fd() const { return fd_; }

  // Sizes the file to `bytes` and allocates every byte of it (posix_fallocate). RESOURCE_EXHAUSTED
  // naming the file system and its free space if it cannot hold them.
  Status Reserve(uint64_t bytes);

  // Links the finished file at its path. ALREADY_EXISTS if a file appeared there meanwhile.
  Status Publish();

  // Gives the descriptor to the caller.
  int TakeFd();

 private:
  std::string path_;
  std::string build_path_;  // empty for an unnamed file
  int fd_ = -1;
};

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_POOL_FILE_H_
