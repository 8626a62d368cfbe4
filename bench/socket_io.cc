#include "socket_io.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace notnets::bench {
namespace {

// UNAVAILABLE naming `what` and errno.
Status ErrnoStatus(const char* what) {
  return Status(StatusCode::UNAVAILABLE, std::string(what) + ": " + std::strerror(errno));
}

// Reads exactly `size` bytes.
Status ReadFully(int fd, char* data, size_t size) {
  while (size > 0) {
    ssize_t n = read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read");
    if (n == 0) return Status(StatusCode::UNAVAILABLE, "the peer closed the socket");
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::OK;
}

}  // namespace

Status WriteFrame(int fd, std::string_view payload) {
  uint64_t length = payload.size();
  iovec parts[2] = {{&length, sizeof(length)}, {const_cast<char*>(payload.data()), payload.size()}};
  iovec* next = parts;
  int count = 2;
  while (count > 0) {
    ssize_t n = writev(fd, next, count);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("writev");
    size_t written = static_cast<size_t>(n);
    while (count > 0 && written >= next->iov_len) {
      written -= next->iov_len;
      ++next;
      --count;
    }
    if (count > 0) {
      next->iov_base = static_cast<char*>(next->iov_base) + written;
      next->iov_len -= written;
    }
  }
  return Status::OK;
}

Status ReadFrame(int fd, std::string* payload) {
  uint64_t length = 0;
  Status status = ReadFully(fd, reinterpret_cast<char*>(&length), sizeof(length));
  if (!status.ok()) return status;
  if (length > (uint64_t{1} << 32)) return Status(StatusCode::DATA_LOSS, "frame too long");
  payload->resize(length);
  return ReadFully(fd, payload->data(), length);
}

}  // namespace notnets::bench
