#include "pool/segment.h"

#include <endian.h>
#include <fcntl.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "pool/cache_simulator.h"
#include "pool/pool_file.h"
#include "pool/process_identity.h"
#include "pool/segment_guard.h"

namespace notnets::internal {

namespace {

constexpr char kSegmentInfix[] = ".seg.";
// Hex digits of a name's id: the creator's token, then as many random ones.
constexpr size_t kSegmentIdDigits = 32;
constexpr size_t kCreatorDigits = 16;

std::string BaseNameOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A token in a segment name: 16 lowercase hex digits.
std::string CreatorHex(uint64_t token) {
  char text[kCreatorDigits + 1];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(token));
  return std::string(text, kCreatorDigits);
}

uint64_t RoundUp(uint64_t value, uint64_t granule) {
  return (value + granule - 1) / granule * granule;
}

uint64_t SystemPageBytes() {
  static const auto bytes = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return bytes;
}

constexpr size_t kMaxSuffixBytes = 8;

// "<pool file name>.seg.<32 hex digits>", optionally followed by ".<1 to 8 lowercase letters>".
// Lowercase digits only: the creator's token has a single spelling.
bool IsSegmentName(const std::string& pool_path, const std::string& name) {
  std::string prefix = BaseNameOf(pool_path) + kSegmentInfix;
  size_t random_end = prefix.size() + kSegmentIdDigits;
  if (name.size() < random_end || name.compare(0, prefix.size(), prefix) != 0) return false;
  for (size_t i = prefix.size(); i < random_end; ++i) {
    char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  if (name.size() == random_end) return true;
  if (name[random_end] != '.' || name.size() < random_end + 2 ||
      name.size() > random_end + 1 + kMaxSuffixBytes) {
    return false;
  }
  for (size_t i = random_end + 1; i < name.size(); ++i) {
    if (name[i] < 'a' || name[i] > 'z') return false;
  }
  return true;
}

// Lets `reader_uid` read the file besides its owner, and nobody else: the access ACL
// user::rw- user:<reader>:r-- group::--- mask::r-- other::---, in the kernel's xattr encoding.
Status GrantRead(int fd, uint32_t owner_uid, uint32_t reader_uid, const std::string& name) {
  if (reader_uid == owner_uid) return Status::OK;  // mode 0600 already grants the owner
  constexpr uint32_t kNoId = static_cast<uint32_t>(ACL_UNDEFINED_ID);
  struct {
    uint16_t tag, perm;
    uint32_t id;
  } const entries[] = {
      {ACL_USER_OBJ, ACL_READ | ACL_WRITE, kNoId},
      {ACL_USER, ACL_READ, reader_uid},
      {ACL_GROUP_OBJ, 0, kNoId},
      {ACL_MASK, ACL_READ, kNoId},
      {ACL_OTHER, 0, kNoId},
  };
  struct {
    posix_acl_xattr_header header;
    posix_acl_xattr_entry entries[5];
  } acl{};
  acl.header.a_version = htole32(POSIX_ACL_XATTR_VERSION);
  for (size_t i = 0; i < 5; ++i) {
    acl.entries[i].e_tag = htole16(entries[i].tag);
    acl.entries[i].e_perm = htole16(entries[i].perm);
    acl.entries[i].e_id = htole32(entries[i].id);
  }
  if (::fsetxattr(fd, "system.posix_acl_access", &acl, sizeof(acl), 0) == 0) return Status::OK;
  return Status(StatusCode::PERMISSION_DENIED,
                "cannot grant segment " + name + " to user " + std::to_string(reader_uid) +
                    " alone (" + std::strerror(errno) +
                    "): its file system has no access control lists; run both parties as one "
                    "user, or put the pool on tmpfs");
}

}  // namespace

Status Segment::Create(const std::string& pool_path, uint64_t initial_bytes, uint64_t max_bytes,
                       uint32_t reader_uid, std::unique_ptr<Segment>* segment) {
  return CreateNamed(pool_path,
                     BaseNameOf(pool_path) + kSegmentInfix + CreatorHex(SelfIdentity().token) +
                         RandomHex((kSegmentIdDigits - kCreatorDigits) / 2),
                     initial_bytes, max_bytes, reader_uid, segment);
}

std::string Segment::PartnerName(const std::string& name, uint64_t creator_token,
                                 const std::string& suffix) {
  size_t id = name.rfind(kSegmentInfix);
  if (id == std::string::npos) return std::string();
  id += sizeof(kSegmentInfix) - 1;
  return name.substr(0, id) + CreatorHex(creator_token) +
         name.substr(id + kCreatorDigits, kSegmentIdDigits - kCreatorDigits) + suffix;
}

uint64_t Segment::CreatorOf(const std::string& pool_path, const std::string& name) {
  if (!IsSegmentName(pool_path, name)) return 0;
  size_t id = BaseNameOf(pool_path).size() + sizeof(kSegmentInfix) - 1;
  return std::strtoull(name.substr(id, kCreatorDigits).c_str(), nullptr, 16);
}

Status Segment::CreateFile(const std::string& pool_path, const std::string& name,
                           uint32_t reader_uid, std::unique_ptr<Segment>* segment) {
  if (!IsSegmentName(pool_path, name)) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "'" + name + "' does not name a segment of pool " + pool_path);
  }
  std::unique_ptr<Segment> created(new Segment);
  created->name_ = name;
  std::string path = DirectoryOf(pool_path) + "/" + created->name_;
  created->fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (created->fd_ < 0) {
    return Status(errno == EEXIST ? StatusCode::ALREADY_EXISTS : StatusCode::UNAVAILABLE,
                  "cannot create segment " + path + ": " + std::strerror(errno));
  }
  created->path_ = path;
  created->writable_ = true;
  struct stat info {};
  if (::fstat(created->fd_, &info) != 0) {
    return Status(StatusCode::UNAVAILABLE,
                  "cannot create segment " + path + ": " + std::strerror(errno));
  }
  created->owner_ = SegmentOwner{info.st_uid, info.st_gid};
  created->page_bytes_ = static_cast<uint64_t>(info.st_blksize);
  if (Status granted = GrantRead(created->fd_, info.st_uid, reader_uid, created->name_);
      !granted.ok()) {
    return granted;
  }
  *segment = std::move(created);
  return Status::OK;
}

Status Segment::CreateNamed(const std::string& pool_path, const std::string& name,
                            uint64_t initial_bytes, uint64_t max_bytes, uint32_t reader_uid,
                            std::unique_ptr<Segment>* segment) {
  if (initial_bytes == 0 || initial_bytes > max_bytes) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "a segment's initial size must be between 1 byte and its largest size");
  }
  std::unique_ptr<Segment> created;
  if (Status status = CreateFile(pool_path, name, reader_uid, &created); !status.ok()) {
    return status;
  }
  created->Reserve(max_bytes);
  if (Status grown = created->Grow(initial_bytes); !grown.ok()) return grown;
  *segment = std::move(created);
  return Status::OK;
}

Status Segment::CreateSparse(const std::string& pool_path, const std::string& name,
                             uint64_t real_bytes, uint64_t max_bytes, uint32_t reader_uid,
                             std::unique_ptr<Segment>* segment) {
  if (real_bytes == 0 || real_bytes > max_bytes) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "a segment's real part must be between 1 byte and its size");
  }
  std::unique_ptr<Segment> created;
  Status status = CreateFile(pool_path,
                             name.empty() ? BaseNameOf(pool_path) + kSegmentInfix +
                                                CreatorHex(SelfIdentity().token) +
                                                RandomHex((kSegmentIdDigits - kCreatorDigits) / 2)
                                          : name,
                             reader_uid, &created);
  if (!status.ok()) return status;
  created->Reserve(max_bytes);
  uint64_t real = std::min(RoundUp(real_bytes, created->page_bytes_), created->reserved_bytes_);
  if (int error = ::posix_fallocate(created->fd_, 0, static_cast<off_t>(real)); error != 0) {
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  "cannot create segment " + created->name_ + " of " + std::to_string(real) +
                      " bytes (" + std::strerror(error) +
                      "): " + DescribeFreeSpace(created->fd_, DirectoryOf(created->path_)) +
                      "; free space there");
  }
  if (::ftruncate(created->fd_, static_cast<off_t>(created->reserved_bytes_)) != 0) {
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  "cannot size segment " + created->name_ + ": " + std::strerror(errno));
  }
  created->prefault_bytes_ = real;
  if (Status mapped = created->MapRange(0, created->reserved_bytes_); !mapped.ok()) return mapped;
  *segment = std::move(created);
  return Status::OK;
}

Status Segment::Open(const std::string& pool_path, const std::string& name, uint64_t max_bytes,
                     std::unique_ptr<Segment>* segment, uint64_t prefault_bytes) {
  std::unique_ptr<Segment> opened(new Segment);
  opened->prefault_bytes_ = prefault_bytes;
  if (Status attached = opened->OpenAndMap(pool_path, name, max_bytes, nullptr); !attached.ok()) {
    return attached;
  }
  *segment = std::move(opened);
  return Status::OK;
}

std::unique_ptr<Segment> Segment::Placeholder(uint64_t max_bytes, uint64_t page_bytes,
                                              uint64_t prefault_bytes) {
  std::unique_ptr<Segment> placeholder(new Segment);
  placeholder->page_bytes_ = page_bytes;
  placeholder->prefault_bytes_ = prefault_bytes;
  placeholder->Reserve(max_bytes);
  if (!placeholder->ReserveAddresses(PROT_READ).ok()) return nullptr;
  return placeholder;
}

Status Segment::Attach(const std::string& pool_path, const std::string& name, uint32_t owner_uid) {
  if (opened()) {
    return Status(StatusCode::FAILED_PRECONDITION, "segment " + name_ + " is attached already");
  }
  return OpenAndMap(pool_path, name, 0, &owner_uid);
}

Status Segment::OpenAndMap(const std::string& pool_path, const std::string& name,
                           uint64_t max_bytes, const uint32_t* owner_uid) {
  if (!IsSegmentName(pool_path, name)) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "'" + name + "' does not name a segment of pool " + pool_path);
  }
  std::string path = DirectoryOf(pool_path) + "/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    StatusCode code = error == ENOENT                       ? StatusCode::NOT_FOUND
                      : (error == EACCES || error == EPERM) ? StatusCode::PERMISSION_DENIED
                                                            : StatusCode::UNAVAILABLE;
    return Status(code, "cannot open segment " + path + ": " + std::strerror(error));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return Status(StatusCode::FAILED_PRECONDITION, "segment " + path + " is not a regular file");
  }
  if (owner_uid != nullptr && info.st_uid != *owner_uid) {
    ::close(fd);
    return Status(StatusCode::PERMISSION_DENIED,
                  "segment " + path + " belongs to user " + std::to_string(info.st_uid) +
                      ", not to user " + std::to_string(*owner_uid) + " who should have made it");
  }
  if (reserved_bytes_ == 0) {
    page_bytes_ = static_cast<uint64_t>(info.st_blksize);
    Reserve(max_bytes);
  } else if (static_cast<uint64_t>(info.st_blksize) != page_bytes_) {
    ::close(fd);
    return Status(StatusCode::FAILED_PRECONDITION,
                  "segment " + path + " has pages of " + std::to_string(info.st_blksize) +
                      " bytes, its reader expected " + std::to_string(page_bytes_));
  }
  if (static_cast<uint64_t>(info.st_size) > reserved_bytes_) {
    ::close(fd);
    return Status(StatusCode::FAILED_PRECONDITION, "segment " + path + " is larger than the " +
                                                       std::to_string(reserved_bytes_) +
                                                       " bytes its reader allows");
  }
  name_ = name;
  fd_ = fd;
  owner_ = SegmentOwner{info.st_uid, info.st_gid};
  Reach(static_cast<uint64_t>(info.st_size));
  // Nothing mapped yet (an empty file): base() must stand still from here on all the same.
  if (base_ == nullptr) return ReserveAddresses(PROT_NONE);
  return Status::OK;
}

Segment::~Segment() {
  UnguardMapping(guard_);
  if (base_ != nullptr) ::munmap(EndSimulatedCache(view_), reserved_bytes_);
  if (fd_ >= 0) ::close(fd_);
  Unlink();
}

Status Segment::Grow(uint64_t bytes) {
  if (!writable_) {
    return Status(StatusCode::FAILED_PRECONDITION,
                  "segment " + name_ + " is mapped read-only here: only its writer grows it");
  }
  uint64_t mapped = mapped_bytes();
  if (bytes <= mapped) return Status::OK;
  uint64_t target = RoundUp(bytes, page_bytes_);
  if (target > reserved_bytes_) {
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  "segment " + name_ + " cannot grow to " + std::to_string(bytes) +
                      " bytes: its largest size is " + std::to_string(reserved_bytes_));
  }
  // Extends the file too: its size never covers a page without memory behind it.
  int error =
      ::posix_fallocate(fd_, static_cast<off_t>(mapped), static_cast<off_t>(target - mapped));
  if (error != 0) {
    // Back to the size that is backed, so a reader never maps a page without memory behind it.
    (void)::ftruncate(fd_, static_cast<off_t>(mapped));
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  "cannot grow segment " + name_ + " to " + std::to_string(target) + " bytes (" +
                      std::strerror(error) + "): " + DescribeFreeSpace(fd_, DirectoryOf(path_)) +
                      "; free space there");
  }
  return MapRange(mapped, target);
}

Status Segment::MakeReal(uint64_t from, uint64_t to) {
  if (!writable_) {
    return Status(StatusCode::FAILED_PRECONDITION,
                  "segment " + name_ + " is mapped read-only here: only its writer writes it");
  }
  if (from > to || to > mapped_bytes()) {
    return Status(StatusCode::INVALID_ARGUMENT, "segment " + name_ + " maps no bytes [" +
                                                    std::to_string(from) + ", " +
                                                    std::to_string(to) + ")");
  }
  uint64_t begin = from / page_bytes_ * page_bytes_;
  uint64_t end = RoundUp(to, page_bytes_);
  if (begin == end) return Status::OK;
  // A write fault on each page, made by the kernel: where the file system is full it fails here
  // (EFAULT) instead of raising SIGBUS at the writer's first store.
  if (::madvise(base_ + begin, end - begin, MADV_POPULATE_WRITE) == 0) return Status::OK;
  int error = errno;
  return Status(StatusCode::RESOURCE_EXHAUSTED,
                "cannot give segment " + name_ + " memory for [" + std::to_string(begin) + ", " +
                    std::to_string(end) + ") (" + std::strerror(error) + "): " +
                    (fd_ >= 0 && !path_.empty()
                         ? DescribeFreeSpace(fd_, DirectoryOf(path_)) + "; free space there"
                         : std::string("its file system is full")));
}

bool Segment::Reach(uint64_t bytes) {
  uint64_t mapped = mapped_bytes();
  if (bytes <= mapped) return true;
  if (bytes > reserved_bytes_) return false;
  struct stat info {};
  if (::fstat(fd_, &info) != 0) return false;
  uint64_t size = static_cast<uint64_t>(info.st_size) / page_bytes_ * page_bytes_;
  if (size > reserved_bytes_) size = reserved_bytes_;
  if (size < bytes) return false;
  return MapRange(mapped, size).ok();
}

void Segment::CloseDescriptor() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Segment::Unlink() {
  if (path_.empty()) return;
  ::unlink(path_.c_str());
  path_.clear();
}

void Segment::Reserve(uint64_t max_bytes) { reserved_bytes_ = RoundUp(max_bytes, page_bytes_); }

Status Segment::ReserveAddresses(int protection) {
  // On a file system of huge pages, one page more than needed, so that the start can be aligned.
  uint64_t slack = page_bytes_ > SystemPageBytes() ? page_bytes_ : 0;
  size_t length = reserved_bytes_ + slack;
  void* reservation =
      ::mmap(nullptr, length, protection, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reservation == MAP_FAILED) {
    return Status(StatusCode::RESOURCE_EXHAUSTED, "cannot reserve " + std::to_string(length) +
                                                      " bytes of address space for segment " +
                                                      name_ + ": " + std::strerror(errno));
  }
  auto start = reinterpret_cast<uintptr_t>(reservation);
  uintptr_t aligned = RoundUp(start, page_bytes_);
  if (aligned > start) ::munmap(reservation, aligned - start);
  if (aligned + reserved_bytes_ < start + length) {
    ::munmap(reinterpret_cast<void*>(aligned + reserved_bytes_),
             start + length - aligned - reserved_bytes_);
  }
  base_ = reinterpret_cast<uint8_t*>(aligned);
  BeginView(0);
  return Status::OK;
}

void Segment::BeginView(uint64_t copied_bytes) {
  view_ = BeginSimulatedCache(base_, reserved_bytes_, copied_bytes);
}

Status Segment::MapRange(uint64_t from, uint64_t to) {
  if (to <= from) return Status::OK;
  int protection = writable_ ? PROT_READ | PROT_WRITE : PROT_READ;
  // hugetlbfs reserves huge pages for the whole of a shared mapping when it is made: a sparse
  // arena would hold its largest size in huge pages for nothing. Its pages are made memory when
  // the writer needs them (MakeReal, which fails cleanly when none are left) and read only after.
  int flags = MAP_SHARED | (page_bytes_ > SystemPageBytes() ? MAP_NORESERVE : 0);
  void* address;
  if (base_ == nullptr && from == 0 && to == reserved_bytes_) {
    // The whole segment at once (rings never grow): one mmap, and no reservation to replace,
    // which would cost a TLB flush on every CPU running this process; its pages are mapped now
    // rather than by a fault each on first touch.
    // A sparse part is left alone: prefaulting a hole of a tmpfs file makes it memory.
    bool whole = prefault_bytes_ >= to;
    address = ::mmap(nullptr, to, protection, flags | (whole ? MAP_POPULATE : 0), fd_, 0);
    if (address != MAP_FAILED) {
      base_ = static_cast<uint8_t*>(address);
      BeginView(std::min(prefault_bytes_, to));
      // Only a prefault (pages fault in on first touch otherwise), so its failure changes nothing.
      if (!whole && prefault_bytes_ > 0) {
        (void)::madvise(base_, std::min(RoundUp(prefault_bytes_, page_bytes_), to),
                        writable_ ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
      }
    }
  } else {
    if (base_ == nullptr) {
      if (Status reserved = ReserveAddresses(PROT_NONE); !reserved.ok()) return reserved;
    }
    address = ::mmap(base_ + from, to - from, protection, flags | MAP_FIXED, fd_,
                     static_cast<off_t>(from));
    if (address != MAP_FAILED) ForgetSimulatedLines(view_ + from, to - from);
  }
  if (address == MAP_FAILED) {
    return Status(StatusCode::UNAVAILABLE,
                  "cannot map segment " + name_ + ": " + std::strerror(errno));
  }
  if (guard_ < 0) guard_ = GuardMapping(base_, reserved_bytes_, protection, &faulted_);
  mapped_.store(to, std::memory_order_release);
  return Status::OK;
}

}  // namespace notnets::internal
