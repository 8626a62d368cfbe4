// Memory that one process writes and exactly one other user may read: a file next to the pool
// that its writer creates (so the kernel records the writer's uid and gid as its owner), maps
// read-write and may grow, and that the kernel lets nobody else open: mode 0600 plus one POSIX
// ACL entry granting read to the reader's uid. The reader's descriptor is read-only, so the kernel
// refuses it any writable mapping. See docs/isolation-design.md.
#ifndef NOTNETS_POOL_SEGMENT_H_
#define NOTNETS_POOL_SEGMENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "notnets/status.h"

namespace notnets::internal {

// Who created a segment, as the kernel says: the owner of its file. Nothing written into the
// segment can change it.
struct SegmentOwner {
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// One mapping of a segment: the writer's (read-write) or the reader's (read-only). The address
// range for the segment's largest size is reserved when it is mapped, so growing never moves it.
// Grow and Reach must not run concurrently with each other; everything else is thread-safe.
class Segment {
 public:
  // Creates a segment named "<pool file name>.seg.<creator><16 random hex digits>" in the
  // directory of `pool_path`, where <creator> is this process's liveness token (process_identity.h)
  // in 16 hex digits, so that whoever finds the file can tell whether its creator still lives
  // (CreatorOf, segment_sweep.h). It is `initial_bytes` long, that may grow to `max_bytes` (both
  // rounded up to the file system's page size), and that the user `reader_uid` may open read-only.
  // Every byte is reserved now: a full file system fails here with RESOURCE_EXHAUSTED, never later
  // with SIGBUS. PERMISSION_DENIED if `reader_uid` is another user and the file system has no ACLs
  // to grant that user alone; INVALID_ARGUMENT if the sizes are 0 or initial_bytes > max_bytes.
  static Status Create(const std::string& pool_path, uint64_t initial_bytes, uint64_t max_bytes,
                       uint32_t reader_uid, std::unique_ptr<Segment>* segment);

  // As Create, under the given `name`: a name of Create's form, optionally followed by '.' and up
  // to 8 lowercase letters (PartnerName).
  // INVALID_ARGUMENT if `name` is not such a name of that pool; ALREADY_EXISTS if a file has it.
  static Status CreateNamed(const std::string& pool_path, const std::string& name,
                            uint64_t initial_bytes, uint64_t max_bytes, uint32_t reader_uid,
                            std::unique_ptr<Segment>* segment);

  // As CreateNamed (as Create if `name` is empty), for a segment whose file is `max_bytes` long
  // from the start but whose first `real_bytes` alone are memory: the rest (an arena) is sparse,
  // costs nothing until the writer makes it real (MakeReal), and is mapped whole by writer and
  // reader at once, so neither needs its file descriptor again. A full file system fails here for
  // the first `real_bytes`, and in MakeReal for the rest, never with SIGBUS in the writer.
  static Status CreateSparse(const std::string& pool_path, const std::string& name,
                             uint64_t real_bytes, uint64_t max_bytes, uint32_t reader_uid,
                             std::unique_ptr<Segment>* segment);

  // Opens the segment `name` (as Create named it) next to `pool_path`, read-only, reserving room
  // for `max_bytes`; of a file mapped whole, only the first `prefault_bytes` are mapped before
  // first touch (for a sparse segment: prefaulting a hole would make it memory). INVALID_ARGUMENT
  // if `name` is not a segment name of that pool; NOT_FOUND if no such file; PERMISSION_DENIED if
  // the kernel refuses this process (it was not granted); FAILED_PRECONDITION if it is not a
  // regular file or is already larger than `max_bytes`.
  static Status Open(const std::string& pool_path, const std::string& name, uint64_t max_bytes,
                     std::unique_ptr<Segment>* segment, uint64_t prefault_bytes = ~uint64_t{0});

  // The name of the segment the process `creator_token` makes for the same connection as the
  // segment `name` (of Create's form): `name` with its creator part replaced and `suffix` (a '.'
  // and up to 8 lowercase letters) appended. Both sides of a connection can derive it.
  static std::string PartnerName(const std::string& name, uint64_t creator_token,
                                 const std::string& suffix);

  // The liveness token of the process that created the segment `name` of the pool `pool_path`,
  // as its name says; 0 if `name` is not a segment name of that pool.
  static uint64_t CreatorOf(const std::string& pool_path, const std::string& name);

  // A reader's mapping of a segment its writer has not created yet: `max_bytes` of zeros,
  // read-only, at the address Attach later maps the segment, for a file system of pages of
  // `page_bytes` (page_bytes() of a segment in the same directory). Lets a reader hand out
  // addresses before the writer exists; zeros must mean "nothing written yet" to it. Attach
  // maps only the first `prefault_bytes` before first touch, as Open. Null if the address space
  // cannot be reserved.
  static std::unique_ptr<Segment> Placeholder(uint64_t max_bytes, uint64_t page_bytes,
                                              uint64_t prefault_bytes = ~uint64_t{0});

  // Placeholder: maps the segment `name` (as Open would) over the zeros, at the same address, if
  // the user `owner_uid` created it. The errors of Open, and PERMISSION_DENIED for a file of
  // another owner (nothing of it is mapped); on error the zeros stay and Attach may be tried
  // again. Must not run concurrently with Grow or Reach.
  Status Attach(const std::string& pool_path, const std::string& name, uint32_t owner_uid);

  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  // The file name within the pool's directory: what the reader passes to Open.
  const std::string& name() const { return name_; }
  // False only for a Placeholder no file has been attached to yet.
  bool opened() const { return !name_.empty(); }
  // The first byte; stays put for the segment's life.
  uint8_t* base() const { return view_; }
  // Bytes mapped from base(); grows with Grow (writer) or Reach (reader).
  uint64_t mapped_bytes() const { return mapped_.load(std::memory_order_acquire); }
  // The user and group that created the segment.
  SegmentOwner owner() const { return owner_; }
  bool writable() const { return writable_; }
  // The file system's page size: sizes and offsets of mappings are multiples of it.
  uint64_t page_bytes() const { return page_bytes_; }

  // Writer: grows the segment to at least `bytes`. RESOURCE_EXHAUSTED past the largest size or
  // when the file system is full; FAILED_PRECONDITION on a reader's mapping.
  Status Grow(uint64_t bytes);

  // Writer: makes the pages of [from, to) memory (rounded out to whole pages), so that writing
  // there can neither fault nor raise SIGBUS; for the sparse part of a CreateSparse segment.
  // RESOURCE_EXHAUSTED when the file system is full; INVALID_ARGUMENT past mapped_bytes();
  // FAILED_PRECONDITION on a reader's mapping. Works after CloseDescriptor.
  Status MakeReal(uint64_t from, uint64_t to);

  // Reader: true if [0, bytes) is mapped, mapping what the writer has grown since if needed.
  // False if the file is shorter than `bytes` or `bytes` is past the largest size: the writer
  // named memory it does not have.
  bool Reach(uint64_t bytes);

  // Writer: removes the segment's name, once its reader holds it open. Its memory then lasts
  // exactly as long as some process maps it, and the kernel frees it when the last one unmaps
  // it or dies.
  void Unlink();

  // True once an access to the mapping met pages its file no longer has (someone shortened it):
  // the mapping reads as zeros from then on (segment_guard.h), and its connection is broken.
  bool faulted() const { return faulted_.load(std::memory_order_acquire); }

  // Closes the file descriptor, for a segment that will neither grow nor be reached further: a
  // process holding thousands of connections would otherwise hold two descriptors for each.
  // Grow fails and Reach returns false past mapped_bytes() from then on.
  void CloseDescriptor();

 private:
  Segment() = default;
  // Opens the file `name`, new, and grants it to `reader_uid`.
  static Status CreateFile(const std::string& pool_path, const std::string& name,
                           uint32_t reader_uid, std::unique_ptr<Segment>* segment);
  // Sets the largest size to `max_bytes`; the addresses come with the first mapping (MapRange).
  void Reserve(uint64_t max_bytes);
  // Reserves the addresses of the largest size at base_: zeros mapped with `protection`.
  Status ReserveAddresses(int protection);
  // Opens `name` read-only and maps what its file holds at base_, reserving `max_bytes` first if
  // nothing is reserved yet; refuses a file not owned by `*owner_uid` if given.
  Status OpenAndMap(const std::string& pool_path, const std::string& name, uint64_t max_bytes,
                    const uint32_t* owner_uid);
  // Maps [from, to) of the file at base_, reserving the addresses first if there are none yet.
  Status MapRange(uint64_t from, uint64_t to);
  // base_ was just set, with the first `copied_bytes` mapped from the file: sets view_.
  void BeginView(uint64_t copied_bytes);

  std::string name_;
  std::string path_;  // empty once unlinked, and always for a reader
  int fd_ = -1;
  bool writable_ = false;
  uint64_t page_bytes_ = 0;
  uint8_t* base_ = nullptr;  // the mapping's first byte
  // What the code reads and writes: base_, or under the cache simulator (cache_simulator.h) this
  // process's cached copy of the mapping.
  uint8_t* view_ = nullptr;
  uint64_t reserved_bytes_ = 0;
  // How much of a mapping of the whole segment is mapped before first touch.
  uint64_t prefault_bytes_ = ~uint64_t{0};
  std::atomic<uint64_t> mapped_{0};
  SegmentOwner owner_;
  int guard_ = -1;  // GuardMapping's handle, once the file is mapped
  std::atomic<bool> faulted_{false};
};

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_SEGMENT_H_
