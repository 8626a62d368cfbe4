// Blocking reads and writes of length-prefixed frames on a stream socket, for the uds-pingpong
// case: an 8-byte little-endian length, then that many bytes.
#ifndef NOTNETS_BENCH_SOCKET_IO_H_
#define NOTNETS_BENCH_SOCKET_IO_H_

#include <string>
#include <string_view>

#include "notnets/status.h"

namespace notnets::bench {

// Writes one frame holding `payload` with one writev where the kernel allows.
Status WriteFrame(int fd, std::string_view payload);

// Reads one frame into `*payload`. Fails with UNAVAILABLE at end of file.
Status ReadFrame(int fd, std::string* payload);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_SOCKET_IO_H_
