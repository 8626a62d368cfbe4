// pool_header_fuzzer: Pool::Attach on a file whose header and size are arbitrary, then
// Pool::Stats on whatever attached.
//
// Proves: attaching a file that anyone could have written fails with a status or gives a pool
// whose bounds keep every later access (Stats walks the directory and the heap) inside the
// mapping.
//
// Input: a flags byte, then a u32 XORed into the file size (the pool's size, 1 MiB; taken modulo
// 4 MiB + 1), then bytes XORed over the 4 KiB header of a well-formed pool (SmallPoolOptions). Flag
// bit 0 recomputes the checksum after the XOR (the input's checksum bytes are then XORed into the
// recomputed value), so that the fuzzer gets past the checksum to the checks behind it.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_support.h"
#include "pool/layout.h"

namespace notnets::fuzz {
namespace {

constexpr uint64_t kMaxFileBytes = 4 << 20;
constexpr uint8_t kFixChecksum = 1;

struct alignas(internal::kCacheLineBytes) HeaderImage {
  uint8_t bytes[internal::kPoolHeaderBytes];
  internal::PoolHeader& header() { return *reinterpret_cast<internal::PoolHeader*>(bytes); }
  const internal::PoolHeader& header() const {
    return *reinterpret_cast<const internal::PoolHeader*>(bytes);
  }
};

// The first 4 KiB of a newly created pool, with a fixed creation time so that every run of the
// fuzzer starts from the same bytes.
HeaderImage WellFormedHeader() {
  FuzzPool pool("header", SmallPoolOptions(), 1);
  HeaderImage image;
  std::memcpy(image.bytes, pool.mapping(0).At<uint8_t>(0), sizeof(image.bytes));
  image.header().created_unix_ns = 1700000000000000000;
  image.header().checksum = internal::PoolHeaderChecksum(image.header());
  return image;
}

// A file in memory, named by a path that Pool::Attach can open; it disappears with the process.
struct PoolFile {
  PoolFile() : fd(::memfd_create("notnets-fuzz-header", MFD_CLOEXEC)) {
    NOTNETS_FUZZ_CHECK(fd >= 0, "memfd_create failed");
    path = "/proc/self/fd/" + std::to_string(fd);
  }
  int fd;
  std::string path;
};

int TestOneInput(const uint8_t* data, size_t size) {
  static const HeaderImage kWellFormed = WellFormedHeader();
  static const PoolFile file;

  FuzzInput input(data, size);
  uint8_t flags = input.TakeByte();
  uint64_t file_bytes = (kWellFormed.header().pool_bytes ^ input.TakeU32()) % (kMaxFileBytes + 1);
  HeaderImage image = kWellFormed;
  input.XorInto(image.bytes, sizeof(image.bytes));
  if (flags & kFixChecksum) {
    uint64_t delta = image.header().checksum ^ kWellFormed.header().checksum;
    image.header().checksum = internal::PoolHeaderChecksum(image.header()) ^ delta;
  }

  NOTNETS_FUZZ_CHECK(
      ::ftruncate(file.fd, 0) == 0 && ::ftruncate(file.fd, static_cast<off_t>(file_bytes)) == 0,
      "cannot size the pool file");
  size_t header_bytes = std::min<uint64_t>(sizeof(image.bytes), file_bytes);
  NOTNETS_FUZZ_CHECK(
      ::pwrite(file.fd, image.bytes, header_bytes, 0) == static_cast<ssize_t>(header_bytes),
      "cannot write the pool file");

  std::shared_ptr<Pool> pool;
  if (!Pool::Attach(file.path, &pool).ok()) return 0;
  PoolStats stats = pool->Stats();
  NOTNETS_FUZZ_CHECK(stats.size_bytes <= file_bytes, "a pool larger than its file");
  return 0;
}

}  // namespace
}  // namespace notnets::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return notnets::fuzz::TestOneInput(data, size);
}
