// Segments: memory one process writes and the kernel lets exactly one other user read
// (docs/isolation-design.md). The tests that need a second user switch the effective uid, so they
// run only as root (as CI does) and are skipped otherwise.
#include "pool/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <string>

#include "gtest/gtest.h"
#include "notnets/pool.h"
#include "pool/background_thread.h"
#include "pool/process_identity.h"
#include "test_pool.h"

namespace notnets::internal {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint32_t kReader = 54321;
constexpr uint32_t kStranger = 54322;

// Where a test's segments go: next to a pool path no other test uses (the pool itself need not
// exist).
std::string TestPoolPath() { return Pool::PathFor(testing::UniquePoolName("segment")); }

// Acts as another user within a scope, back to root at its end whatever fails.
struct ActAs {
  explicit ActAs(uid_t user) { ok = ::setegid(user) == 0 && ::seteuid(user) == 0; }
  ~ActAs() { ok = ::seteuid(0) == 0 && ::setegid(0) == 0; }
  bool ok;
};

bool Exists(const std::string& directory_of_pool, const std::string& name) {
  std::string path = directory_of_pool.substr(0, directory_of_pool.rfind('/')) + "/" + name;
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

TEST(SegmentTest, TheReaderSeesTheWritersBytesInPlaceAndTheKernelsOwner) {
  std::string pool = TestPoolPath();
  std::unique_ptr<Segment> writer;
  ASSERT_TRUE(Segment::Create(pool, kPage, 16 * kPage, ::geteuid(), &writer).ok());
  std::memcpy(writer->base(), "hello", 6);
  std::unique_ptr<Segment> reader;
  Status opened = Segment::Open(pool, writer->name(), 16 * kPage, &reader);
  ASSERT_TRUE(opened.ok()) << opened.ToString();
  EXPECT_STREQ(reinterpret_cast<const char*>(reader->base()), "hello");
  EXPECT_EQ(reader->owner().uid, ::geteuid());
  EXPECT_EQ(reader->owner().gid, ::getegid());
  EXPECT_FALSE(reader->writable());
  // Written after the reader mapped it: the same memory, not a copy.
  std::memcpy(writer->base(), "again", 6);
  EXPECT_STREQ(reinterpret_cast<const char*>(reader->base()), "again");
}

TEST(SegmentTest, TheReaderCannotMakeItsMappingWritable) {
  std::string pool = TestPoolPath();
  std::unique_ptr<Segment> writer;
  ASSERT_TRUE(Segment::Create(pool, kPage, kPage, ::geteuid(), &writer).ok());
  std::unique_ptr<Segment> reader;
  ASSERT_TRUE(Segment::Open(pool, writer->name(), kPage, &reader).ok());
  EXPECT_NE(::mprotect(reader->base(), kPage, PROT_READ | PROT_WRITE), 0);
  EXPECT_EQ(errno, EACCES);
  EXPECT_EQ(reader->Grow(2 * kPage).error_code(), StatusCode::FAILED_PRECONDITION);
}

TEST(SegmentTest, OnlyTheGrantedUserCanOpenIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as other users";
  std::string pool = TestPoolPath();
  std::unique_ptr<Segment> writer;
  Status created;
  Status stranger;
  Status granted;
  Status stranger_as_file;
  std::string seen;
  {
    // The writer is an ordinary user too: root could open anything.
    ActAs user(kReader + 10);
    ASSERT_TRUE(user.ok);
    created = Segment::Create(pool, kPage, kPage, kReader, &writer);
  }
  ASSERT_TRUE(created.ok()) << created.ToString();
  std::memcpy(writer->base(), "secret", 7);
  {
    ActAs user(kStranger);
    ASSERT_TRUE(user.ok);
    std::unique_ptr<Segment> segment;
    stranger = Segment::Open(pool, writer->name(), kPage, &segment);
    std::string path = pool.substr(0, pool.rfind('/')) + "/" + writer->name();
    int fd = ::open(path.c_str(), O_RDONLY);
    stranger_as_file = fd < 0 ? Status(StatusCode::PERMISSION_DENIED, "refused") : Status::OK;
    if (fd >= 0) ::close(fd);
  }
  {
    ActAs user(kReader);
    ASSERT_TRUE(user.ok);
    std::unique_ptr<Segment> segment;
    granted = Segment::Open(pool, writer->name(), kPage, &segment);
    if (granted.ok()) seen = reinterpret_cast<const char*>(segment->base());
  }
  EXPECT_EQ(stranger.error_code(), StatusCode::PERMISSION_DENIED) << stranger.ToString();
  EXPECT_EQ(stranger_as_file.error_code(), StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(granted.ok()) << granted.ToString();
  EXPECT_EQ(seen, "secret");
}

TEST(SegmentTest, GrowsInPlaceAndTheReaderReachesOnlyWhatTheFileHolds) {
  std::string pool = TestPoolPath();
  std::unique_ptr<Segment> writer;
  ASSERT_TRUE(Segment::Create(pool, kPage, 8 * kPage, ::geteuid(), &writer).ok());
  uint8_t* base = writer->base();
  std::unique_ptr<Segment> reader;
  ASSERT_TRUE(Segment::Open(pool, writer->name(), 8 * kPage, &reader).ok());
  EXPECT_EQ(reader->mapped_bytes(), kPage);
  EXPECT_FALSE(reader->Reach(2 * kPage));

  ASSERT_TRUE(writer->Grow(3 * kPage).ok());
  EXPECT_EQ(writer->base(), base);
  writer->base()[3 * kPage - 1] = 42;
  ASSERT_TRUE(reader->Reach(3 * kPage));
  EXPECT_EQ(reader->base()[3 * kPage - 1], 42);
  EXPECT_FALSE(reader->Reach(9 * kPage));

  Status too_far = writer->Grow(9 * kPage);
  EXPECT_EQ(too_far.error_code(), StatusCode::RESOURCE_EXHAUSTED) << too_far.ToString();
  EXPECT_EQ(writer->mapped_bytes(), 3 * kPage);
}

// Bytes of memory the file holds (a tmpfs counts the pages it has, not its size).
uint64_t MemoryOf(const std::string& directory_of_pool, const std::string& name) {
  std::string path = directory_of_pool.substr(0, directory_of_pool.rfind('/')) + "/" + name;
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 ? static_cast<uint64_t>(info.st_blocks) * 512 : ~0ull;
}

// An arena's segment: as long as its largest size from the start, memory only where its writer
// made it so, even after the reader mapped all of it and both closed their descriptors.
TEST(SegmentTest, ASparseSegmentCostsOnlyWhatItsWriterMakesReal) {
  std::string pool = TestPoolPath();
  constexpr uint64_t kBytes = 64 << 20;
  std::unique_ptr<Segment> writer;
  Status created = Segment::CreateSparse(pool, "", kPage, kBytes, ::geteuid(), &writer);
  ASSERT_TRUE(created.ok()) << created.ToString();
  EXPECT_EQ(writer->mapped_bytes(), kBytes);
  std::unique_ptr<Segment> reader;
  Status opened = Segment::Open(pool, writer->name(), kBytes, &reader, kPage);
  ASSERT_TRUE(opened.ok()) << opened.ToString();
  writer->CloseDescriptor();
  reader->CloseDescriptor();
  EXPECT_EQ(reader->mapped_bytes(), kBytes);
  EXPECT_LE(MemoryOf(pool, writer->name()), kPage);
  Status real = writer->MakeReal((8 << 20) + 1, 9 << 20);
  ASSERT_TRUE(real.ok()) << real.ToString();
  uint64_t memory = MemoryOf(pool, writer->name());
  EXPECT_GE(memory, uint64_t{1} << 20);
  EXPECT_LE(memory, (uint64_t{1} << 20) + kPage);
  std::memcpy(writer->base() + (8 << 20), "in the arena", 13);
  EXPECT_STREQ(reinterpret_cast<const char*>(reader->base() + (8 << 20)), "in the arena");
  EXPECT_EQ(writer->MakeReal(0, kBytes + 1).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(reader->MakeReal(0, kPage).error_code(), StatusCode::FAILED_PRECONDITION);
}

// An arena's payload bytes, far into the sparse part: granted to the reader, refused to a
// stranger, and the reader's mapping cannot be made writable.
TEST(SegmentTest, OnlyTheGrantedUserCanMapAnArenasPayloads) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as other users";
  std::string pool = TestPoolPath();
  constexpr uint64_t kBytes = 16 << 20;
  constexpr uint64_t kPayload = 12 << 20;
  std::unique_ptr<Segment> writer;
  Status created;
  {
    ActAs user(kReader + 10);
    ASSERT_TRUE(user.ok);
    created = Segment::CreateSparse(pool, "", kPage, kBytes, kReader, &writer);
  }
  ASSERT_TRUE(created.ok()) << created.ToString();
  ASSERT_TRUE(writer->MakeReal(kPayload, kPayload + kPage).ok());
  std::memcpy(writer->base() + kPayload, "payload secret", 15);
  Status stranger;
  Status granted;
  std::string seen;
  int protect = 0;
  {
    ActAs user(kStranger);
    ASSERT_TRUE(user.ok);
    std::unique_ptr<Segment> segment;
    stranger = Segment::Open(pool, writer->name(), kBytes, &segment, kPage);
  }
  {
    ActAs user(kReader);
    ASSERT_TRUE(user.ok);
    std::unique_ptr<Segment> segment;
    granted = Segment::Open(pool, writer->name(), kBytes, &segment, kPage);
    if (granted.ok()) {
      seen = reinterpret_cast<const char*>(segment->base() + kPayload);
      protect = ::mprotect(segment->base() + kPayload, kPage, PROT_READ | PROT_WRITE);
    }
  }
  EXPECT_EQ(stranger.error_code(), StatusCode::PERMISSION_DENIED) << stranger.ToString();
  ASSERT_TRUE(granted.ok()) << granted.ToString();
  EXPECT_EQ(seen, "payload secret");
  EXPECT_EQ(protect, -1) << "the reader could make the payloads writable";
}

TEST(SegmentTest, AnUnlinkedSegmentLivesAsLongAsAMappingOfIt) {
  std::string pool = TestPoolPath();
  std::unique_ptr<Segment> writer;
  ASSERT_TRUE(Segment::Create(pool, kPage, kPage, ::geteuid(), &writer).ok());
  std::string name = writer->name();
  std::unique_ptr<Segment> reader;
  ASSERT_TRUE(Segment::Open(pool, name, kPage, &reader).ok());
  EXPECT_TRUE(Exists(pool, name));
  writer->Unlink();
  EXPECT_FALSE(Exists(pool, name));
  std::memcpy(writer->base(), "still", 6);
  EXPECT_STREQ(reinterpret_cast<const char*>(reader->base()), "still");
  std::unique_ptr<Segment> late;
  EXPECT_EQ(Segment::Open(pool, name, kPage, &late).error_code(), StatusCode::NOT_FOUND);
}

TEST(SegmentTest, AWriterThatGoesAwayLeavesNoFileBehind) {
  std::string pool = TestPoolPath();
  std::string name;
  {
    std::unique_ptr<Segment> writer;
    ASSERT_TRUE(Segment::Create(pool, kPage, kPage, ::geteuid(), &writer).ok());
    name = writer->name();
    EXPECT_TRUE(Exists(pool, name));
  }
  EXPECT_FALSE(Exists(pool, name));
}

// Threads notnets starts block every signal they can; a fault signal they cannot: the kernel
// would kill the whole process instead of running the guard (segment_guard.h).
TEST(SegmentTest, AShortenedSegmentIsAbsorbedOnABackgroundThreadToo) {
  std::string pool = TestPoolPath();
  std::unique_ptr<Segment> writer;
  ASSERT_TRUE(Segment::Create(pool, kPage, kPage, ::geteuid(), &writer).ok());
  std::shared_ptr<Segment> reader;
  {
    std::unique_ptr<Segment> opened;
    ASSERT_TRUE(Segment::Open(pool, writer->name(), kPage, &opened).ok());
    reader = std::move(opened);
  }
  std::string path = pool.substr(0, pool.rfind('/')) + "/" + writer->name();
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::ftruncate(fd, 0), 0) << std::strerror(errno);
  ::close(fd);
  auto read = std::make_shared<std::promise<uint8_t>>();
  std::future<uint8_t> value = read->get_future();
  StartBackgroundThread([reader, read] {
    uint8_t first = *static_cast<volatile const uint8_t*>(reader->base());
    read->set_value(first);
  });
  EXPECT_EQ(value.get(), 0);
  EXPECT_TRUE(reader->faulted());
}

TEST(SegmentTest, ItsNameSaysWhichProcessCreatedIt) {
  std::string pool = TestPoolPath();
  std::unique_ptr<Segment> writer;
  ASSERT_TRUE(Segment::Create(pool, kPage, kPage, ::geteuid(), &writer).ok());
  EXPECT_EQ(Segment::CreatorOf(pool, writer->name()), SelfIdentity().token);
  constexpr uint64_t kPeer = 0x4000000000000abcull;
  std::string partner = Segment::PartnerName(writer->name(), kPeer, ".s");
  EXPECT_EQ(Segment::CreatorOf(pool, partner), kPeer);
  EXPECT_EQ(partner.substr(partner.size() - 18),
            writer->name().substr(writer->name().size() - 16) + ".s");
  EXPECT_EQ(Segment::CreatorOf(pool, "notnets-default"), 0u);
  EXPECT_EQ(Segment::CreatorOf(TestPoolPath(), writer->name()), 0u);
}

TEST(SegmentTest, OpensOnlyNamesOfItsPoolsSegments) {
  std::string pool = TestPoolPath();
  std::unique_ptr<Segment> writer;
  ASSERT_TRUE(Segment::Create(pool, kPage, kPage, ::geteuid(), &writer).ok());
  std::unique_ptr<Segment> reader;
  for (const std::string& name :
       {std::string("../../etc/passwd"), std::string("notnets-default"), writer->name() + "0",
        writer->name().substr(0, writer->name().size() - 1) + "/",
        writer->name().substr(0, writer->name().size() - 1) + "G"}) {
    EXPECT_EQ(Segment::Open(pool, name, kPage, &reader).error_code(), StatusCode::INVALID_ARGUMENT)
        << name;
  }
  EXPECT_EQ(Segment::Open(TestPoolPath(), writer->name(), kPage, &reader).error_code(),
            StatusCode::INVALID_ARGUMENT);
}

TEST(SegmentTest, RefusesASegmentLargerThanItsReaderAllows) {
  std::string pool = TestPoolPath();
  std::unique_ptr<Segment> writer;
  ASSERT_TRUE(Segment::Create(pool, 4 * kPage, 4 * kPage, ::geteuid(), &writer).ok());
  std::unique_ptr<Segment> reader;
  EXPECT_EQ(Segment::Open(pool, writer->name(), kPage, &reader).error_code(),
            StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Segment::Create(pool, 2 * kPage, kPage, ::geteuid(), &writer).error_code(),
            StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace notnets::internal
