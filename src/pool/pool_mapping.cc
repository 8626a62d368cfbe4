#include "pool/pool_mapping.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "pool/cache_simulator.h"
#include "pool/call_window.h"
#include "pool/directory.h"
#include "pool/lease_table.h"
#include "pool/pool_file.h"
#include "pool/segment_guard.h"

namespace notnets::internal {

namespace {

Status ErrnoStatus(StatusCode code, const std::string& what, const std::string& path) {
  return Status(code, what + " " + path + ": " + std::strerror(errno));
}

uint64_t RoundUp(uint64_t value, uint64_t unit) { return (value + unit - 1) / unit * unit; }

// The unit a mapping of the regular file `fd` is made of: its huge page on hugetlbfs (where the
// kernel refuses to unmap part of one, so a shorter length would leave the mapping behind), 1
// elsewhere.
uint64_t MappingUnit(int fd) {
  struct statfs fs {};
  if (::fstatfs(fd, &fs) == 0 && fs.f_type == HUGETLBFS_MAGIC) {
    return static_cast<uint64_t>(fs.f_bsize);
  }
  return 1;
}

// The size of a character device (DAX), from sysfs; 0 if unknown.
uint64_t CharDeviceBytes(const struct stat& st) {
  std::string sysfs = "/sys/dev/char/" + std::to_string(major(st.st_rdev)) + ":" +
                      std::to_string(minor(st.st_rdev)) + "/size";
  int fd = ::open(sysfs.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[32] = {};
  ssize_t n = ::read(fd, text, sizeof(text) - 1);
  ::close(fd);
  return n > 0 ? std::strtoull(text, nullptr, 10) : 0;
}

// `zero_heap`: the memory may hold an earlier pool (a device): its blocks' headers would pass for
// blocks being carved (Allocator::Carve), and its messages must not reach the new pool's users.
void InitializeHeader(uint8_t* base, uint64_t pool_bytes, const PoolOptions& options,
                      bool zero_heap) {
  auto* header = new (base) PoolHeader{};
  header->layout_version = kPoolLayoutVersion;
  header->header_bytes = kPoolHeaderBytes;
  header->pool_bytes = pool_bytes;
  header->coherence = static_cast<uint32_t>(options.coherence);
  header->max_services = options.max_services;
  header->directory_offset = kPoolHeaderBytes;
  header->call_window_offset = RoundUp(
      kPoolHeaderBytes + uint64_t{options.max_services} * sizeof(ServiceEntry), kCacheLineBytes);
  header->call_window_slots = options.call_window_slots;
  uint64_t lease_table_offset = LeaseTableOffset(
      header->call_window_offset, uint64_t{options.call_window_slots} * sizeof(CallWindowSlot));
  header->heap_offset = RoundUp(lease_table_offset + kLeaseTableBytes, 4096);
  header->heap_bytes = pool_bytes - header->heap_offset;
  header->created_unix_ns =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  header->checksum = PoolHeaderChecksum(*header);
  header->allocator.heap_top.store(header->heap_offset, std::memory_order_relaxed);
  for (uint32_t i = 0; i < options.max_services; ++i) {
    new (base + header->directory_offset + i * sizeof(ServiceEntry)) ServiceEntry{};
  }
  for (uint32_t i = 0; i < options.call_window_slots; ++i) {
    new (base + header->call_window_offset + i * sizeof(CallWindowSlot)) CallWindowSlot{};
  }
  auto* leases = new (base + lease_table_offset) LeaseTableHeader{};
  leases->magic = kLeaseTableMagic;
  leases->period_ns = static_cast<uint64_t>(options.lease_period.count()) * 1000000;
  leases->slots = kLeaseSlots;
  for (uint32_t i = 0; i < kLeaseSlots; ++i) {
    new (base + lease_table_offset + sizeof(LeaseTableHeader) + i * sizeof(LeaseRecord))
        LeaseRecord{};
  }
  Visibility visibility(options.coherence);
  if (zero_heap) std::memset(base + header->heap_offset, 0, header->heap_bytes);
  visibility.WriteBack(base, zero_heap ? pool_bytes : header->heap_offset);
  visibility.Publish(&header->magic, kPoolMagic);
}

Status ValidateHeader(const std::string& path, const PoolHeader& header, uint64_t mapped_bytes) {
  auto corrupt = [&](const std::string& why) {
    return Status(StatusCode::FAILED_PRECONDITION,
                  "pool " + path + " has a corrupt header (" + why +
                      "); remove it with 'notnets pool remove' and create it again");
  };
  uint64_t magic = header.magic.load(std::memory_order_acquire);
  if (magic != kPoolMagic) {
    return Status(StatusCode::FAILED_PRECONDITION,
                  path +
                      " is not a notnets pool (no pool magic number); create one with "
                      "'notnets pool create'");
  }
  if (header.layout_version != kPoolLayoutVersion) {
    return Status(StatusCode::FAILED_PRECONDITION,
                  "pool " + path + " has layout version " + std::to_string(header.layout_version) +
                      " but this notnets reads version " + std::to_string(kPoolLayoutVersion) +
                      "; use the matching notnets release or recreate the pool");
  }
  if (header.checksum != PoolHeaderChecksum(header)) return corrupt("checksum mismatch");
  if (header.header_bytes != kPoolHeaderBytes) return corrupt("header size");
  if (header.pool_bytes > mapped_bytes || header.pool_bytes < kMinPoolBytes ||
      header.pool_bytes > kMaxPoolBytes) {
    return corrupt("pool size " + std::to_string(header.pool_bytes) + " but the file holds " +
                   std::to_string(mapped_bytes));
  }
  if (header.coherence > static_cast<uint32_t>(CoherenceMode::kWriteBackInvalidate)) {
    return corrupt("coherence mode");
  }
  // Bounded first, so that the sums below cannot wrap around.
  if (header.call_window_offset > header.pool_bytes ||
      header.call_window_slots > kMaxCallWindowSlots) {
    return corrupt("layout bounds");
  }
  uint64_t directory_end =
      header.directory_offset + uint64_t{header.max_services} * sizeof(ServiceEntry);
  uint64_t window_end =
      LeaseTableOffset(header.call_window_offset,
                       uint64_t{header.call_window_slots} * sizeof(CallWindowSlot)) +
      kLeaseTableBytes;
  if (header.directory_offset != kPoolHeaderBytes || header.max_services == 0 ||
      header.max_services > 65536 || directory_end > header.call_window_offset ||
      header.call_window_offset % kCacheLineBytes != 0 ||
      header.call_window_slots > kMaxCallWindowSlots || window_end > header.heap_offset ||
      header.heap_offset % 4096 != 0 || header.heap_offset > header.pool_bytes ||
      header.heap_bytes != header.pool_bytes - header.heap_offset) {
    return corrupt("layout bounds");
  }
  return Status::OK;
}

// Checks the lease table of a pool whose header passed ValidateHeader, mapped whole at `base`.
Status ValidateLeaseTable(const std::string& path, const uint8_t* base, uint64_t offset,
                          uint64_t* period_ns) {
  const auto* table = reinterpret_cast<const LeaseTableHeader*>(base + offset);
  uint64_t magic = table->magic;
  uint64_t period = table->period_ns;
  uint32_t slots = table->slots;
  if (magic != kLeaseTableMagic || slots != kLeaseSlots || period < kMinLeasePeriodMs * 1000000 ||
      period > kMaxLeasePeriodMs * 1000000) {
    return Status(StatusCode::FAILED_PRECONDITION,
                  "pool " + path +
                      " has a corrupt header (lease table); remove it with 'notnets pool "
                      "remove' and create it again");
  }
  *period_ns = period;
  return Status::OK;
}

}  // namespace

uint64_t PoolHeaderChecksum(const PoolHeader& header) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&header.layout_version);
  const auto* end = reinterpret_cast<const uint8_t*>(&header.checksum);
  uint64_t hash = 0xcbf29ce484222325ull;
  for (; bytes < end; ++bytes) hash = (hash ^ *bytes) * 0x100000001b3ull;
  return hash;
}

PoolMapping::PoolMapping(std::string path, uint8_t* base, void* shared, uint64_t size)
    : path_(std::move(path)),
      base_(base),
      size_(size),
      guard_(GuardMapping(shared, size, PROT_READ | PROT_WRITE, &shortened_)) {}

PoolMapping::~PoolMapping() {
  lease_.reset();  // gives the record up while the table is still mapped
  UnguardMapping(guard_);
  ::munmap(EndSimulatedCache(base_), size_);
}

Status PoolMapping::ShortenedStatus() const {
  return Status(StatusCode::FAILED_PRECONDITION,
                "pool " + path_ +
                    " was shortened by another process while this one used it, so this process "
                    "shares nothing through it any more; remove the pool, create it again and "
                    "restart the processes that use it");
}

void PoolMapping::LoadBounds() {
  const PoolHeader* h = header();
  visibility_ = Visibility(static_cast<CoherenceMode>(h->coherence));
  heap_offset_ = h->heap_offset;
  heap_end_ = h->pool_bytes;
  directory_offset_ = h->directory_offset;
  max_services_ = h->max_services;
  call_window_offset_ = h->call_window_offset;
  call_window_slots_ = h->call_window_slots;
  lease_table_offset_ =
      LeaseTableOffset(call_window_offset_, uint64_t{call_window_slots_} * sizeof(CallWindowSlot));
}

Status PoolMapping::Create(const std::string& path, const PoolOptions& options,
                           std::unique_ptr<PoolMapping>* mapping) {
  if (options.size_bytes < kMinPoolBytes || options.size_bytes > kMaxPoolBytes) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "pool size " + std::to_string(options.size_bytes) + " is outside [" +
                      std::to_string(kMinPoolBytes) + ", " + std::to_string(kMaxPoolBytes) + "]");
  }
  if (options.max_services == 0 || options.max_services > 65536) {
    return Status(StatusCode::INVALID_ARGUMENT, "max_services must be in [1, 65536]");
  }
  int64_t lease_ms = options.lease_period.count();
  if (lease_ms < static_cast<int64_t>(kMinLeasePeriodMs) ||
      lease_ms > static_cast<int64_t>(kMaxLeasePeriodMs)) {
    return Status(StatusCode::INVALID_ARGUMENT, "lease_period must be in [" +
                                                    std::to_string(kMinLeasePeriodMs) + " ms, " +
                                                    std::to_string(kMaxLeasePeriodMs) + " ms]");
  }
  if ((options.file_mode & ~uint32_t{0777}) != 0 || (options.file_mode & 0600) != 0600) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "file_mode " + std::to_string(options.file_mode) +
                      " (decimal) must be permission bits (0777 at most) that let the owner "
                      "read and write");
  }
  if (options.call_window_slots > kMaxCallWindowSlots) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "call_window_slots must be at most " + std::to_string(kMaxCallWindowSlots));
  }
  uint64_t fixed_end = kPoolHeaderBytes + uint64_t{options.max_services} * sizeof(ServiceEntry) +
                       uint64_t{options.call_window_slots} * sizeof(CallWindowSlot) +
                       kCacheLineBytes + kLeaseTableBytes;
  if (fixed_end + 64 * 1024 > options.size_bytes) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "a pool of " + std::to_string(options.size_bytes) + " bytes cannot hold " +
                      std::to_string(options.max_services) + " services, " +
                      std::to_string(options.call_window_slots) +
                      " call window slots and a heap; use fewer or a larger size");
  }
  struct stat st {};
  bool is_device = ::stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode);
  if (!is_device && ::access(path.c_str(), F_OK) == 0) {
    return Status(StatusCode::ALREADY_EXISTS,
                  "pool " + path + " already exists; attach it, or remove it first");
  }
  // A device is initialized in place; a file is built unseen and linked into place when whole.
  UnpublishedFile file;
  int device_fd = -1;
  if (is_device) {
    device_fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (device_fd < 0) return ErrnoStatus(StatusCode::UNAVAILABLE, "cannot create pool file", path);
  } else {
    Status status = UnpublishedFile::Open(path, options.file_mode, &file);
    if (!status.ok()) return status;
  }
  int fd = is_device ? device_fd : file.fd();

  uint64_t pool_bytes =
      is_device ? options.size_bytes : RoundUp(options.size_bytes, MappingUnit(fd));
  if (is_device) {
    uint64_t device_bytes = CharDeviceBytes(st);
    if (device_bytes != 0 && device_bytes < pool_bytes) pool_bytes = device_bytes;
  } else {
    Status status = file.Reserve(pool_bytes);
    if (!status.ok()) return status;
  }
  void* base = ::mmap(nullptr, pool_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    Status status = ErrnoStatus(StatusCode::UNAVAILABLE, "cannot map pool file", path);
    if (is_device) ::close(device_fd);
    return status;
  }
  if (is_device &&
      static_cast<PoolHeader*>(base)->magic.load(std::memory_order_acquire) == kPoolMagic) {
    ::munmap(base, pool_bytes);
    ::close(device_fd);
    return Status(StatusCode::ALREADY_EXISTS, "device " + path + " already holds a pool");
  }
  // A new file holds zeros, as the simulated cache starts: nothing to copy.
  uint8_t* bytes =
      BeginSimulatedCache(static_cast<uint8_t*>(base), pool_bytes, is_device ? pool_bytes : 0);
  InitializeHeader(bytes, pool_bytes, options, is_device);
  if (!is_device) {
    Status status = file.Publish();
    if (!status.ok()) {
      ::munmap(EndSimulatedCache(bytes), pool_bytes);
      return status;
    }
    fd = file.TakeFd();
  }
  mapping->reset(new PoolMapping(path, bytes, base, pool_bytes));
  (*mapping)->LoadBounds();
  return Finish(fd, mapping);
}

Status PoolMapping::Finish(int fd, std::unique_ptr<PoolMapping>* mapping) {
  PoolMapping& m = **mapping;
  uint64_t period_ns = 0;
  Status status = ValidateLeaseTable(m.path(), m.base_, m.lease_table_offset_, &period_ns);
  if (status.ok()) {
    status = LivenessLock::Take(fd, m.path(), &m.liveness_);
    fd = -1;
  }
  // After the liveness lock: a record's token must be locked by the time anyone reads it.
  if (status.ok()) {
    status = Lease::Claim(m.At<LeaseRecord>(m.lease_table_offset_ + sizeof(LeaseTableHeader)),
                          kLeaseSlots, period_ns, m.visibility(), m.path(), &m.lease_);
  }
  if (fd >= 0) ::close(fd);
  if (!status.ok()) mapping->reset();
  return status;
}

Status PoolMapping::Attach(const std::string& path, const std::vector<uint32_t>& trusted_owners,
                           std::unique_ptr<PoolMapping>* mapping) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    StatusCode code = errno == ENOENT   ? StatusCode::NOT_FOUND
                      : errno == EACCES ? StatusCode::PERMISSION_DENIED
                                        : StatusCode::UNAVAILABLE;
    std::string hint = errno == ENOENT ? " (create it with 'notnets pool create')" : "";
    return Status(code, "cannot open pool " + path + ": " + std::strerror(errno) + hint);
  }
  struct stat st {};
  ::fstat(fd, &st);
  if (S_ISREG(st.st_mode) && st.st_uid != ::geteuid() && st.st_uid != 0 &&
      std::find(trusted_owners.begin(), trusted_owners.end(), st.st_uid) == trusted_owners.end()) {
    ::close(fd);
    return Status(StatusCode::PERMISSION_DENIED,
                  "pool " + path + " belongs to uid " + std::to_string(st.st_uid) +
                      ", not to this user (uid " + std::to_string(::geteuid()) +
                      "); if you trust that user, add " + std::to_string(st.st_uid) +
                      " to PoolOptions::trusted_owners");
  }
  uint64_t file_bytes =
      S_ISCHR(st.st_mode) ? CharDeviceBytes(st) : static_cast<uint64_t>(st.st_size);
  if (S_ISCHR(st.st_mode) && file_bytes == 0) file_bytes = kPoolHeaderBytes;
  if (file_bytes < kPoolHeaderBytes) {
    ::close(fd);
    return Status(StatusCode::FAILED_PRECONDITION,
                  path + " is not a notnets pool (only " + std::to_string(file_bytes) + " bytes)");
  }
  // Map the header alone first: its pool size says how much to map.
  const uint64_t head_bytes =
      S_ISCHR(st.st_mode) ? kPoolHeaderBytes : RoundUp(kPoolHeaderBytes, MappingUnit(fd));
  void* head = ::mmap(nullptr, head_bytes, PROT_READ, MAP_SHARED, fd, 0);
  if (head == MAP_FAILED) {
    ::close(fd);
    return ErrnoStatus(StatusCode::UNAVAILABLE, "cannot map pool", path);
  }
  // The file may have been shortened since fstat: a fault reads zeros, which fail validation.
  std::atomic<bool> head_shortened{false};
  int head_guard = GuardMapping(head, head_bytes, PROT_READ, &head_shortened);
  const auto* header = static_cast<const PoolHeader*>(head);
  uint64_t pool_bytes = header->pool_bytes;
  // Past the heap's top nothing was written but the format word of a block being carved, which
  // its readers read at memory (Allocator::Carve), so the simulated cache copies what lies before.
  uint64_t written_bytes = header->allocator.heap_top.load(std::memory_order_acquire);
  if (S_ISCHR(st.st_mode) && file_bytes == kPoolHeaderBytes) file_bytes = pool_bytes;
  Status status = ValidateHeader(path, *header, file_bytes);
  UnguardMapping(head_guard);
  ::munmap(head, head_bytes);
  if (!status.ok()) {
    ::close(fd);
    return status;
  }
  void* base = ::mmap(nullptr, pool_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    status = ErrnoStatus(StatusCode::UNAVAILABLE, "cannot map pool", path);
    ::close(fd);
    return status;
  }
  mapping->reset(new PoolMapping(
      path, BeginSimulatedCache(static_cast<uint8_t*>(base), pool_bytes, written_bytes), base,
      pool_bytes));
  // Validate again in the full mapping: the header could have changed between the two maps.
  status = ValidateHeader(path, *(*mapping)->header(), pool_bytes);
  if (!status.ok()) {
    ::close(fd);
    mapping->reset();
    return status;
  }
  (*mapping)->LoadBounds();
  return Finish(fd, mapping);
}

}  // namespace notnets::internal
