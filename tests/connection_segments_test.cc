// A connection's two directions as segments (docs/isolation-design.md, step 2): each written by
// its sender, read-only to its receiver, closed to everyone else, and gone from the pool's
// directory once both parties hold them. The tests that need other users switch the effective
// uid (as segment_test.cc does), so they run only as root (as CI does) and are skipped otherwise.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "channel/connection.h"
#include "gtest/gtest.h"
#include "notnets/channel.h"
#include "notnets/client_context.h"
#include "notnets/pool.h"
#include "notnets/server.h"
#include "pool/host_id.h"
#include "pool/pool_access.h"
#include "pool/process_identity.h"
#include "pool/service_report.h"
#include "scribbler.h"
#include "test_pool.h"
#include "thread_acts_as.h"

namespace notnets::internal {
namespace {

constexpr uint32_t kClient = 54331;
constexpr uint32_t kServer = 54332;
constexpr uint32_t kStranger = 54333;
constexpr uint32_t kCapacity = 8;
constexpr ServiceRef kService{0, 1};

// Acts as another user (and group of the same number) within a scope, back to root at its end.
struct ActAs {
  explicit ActAs(uid_t user) { ok = ::setegid(user) == 0 && ::seteuid(user) == 0; }
  ~ActAs() { ok = ::seteuid(0) == 0 && ::setegid(0) == 0; }
  bool ok;
};

using testing::ThreadActsAs;

std::string DirectoryOf(const std::string& path) { return path.substr(0, path.rfind('/')); }

// The names of the segment files of the pool at `pool_path` in its directory.
std::vector<std::string> SegmentFiles(const std::string& pool_path) {
  std::string prefix = pool_path.substr(pool_path.rfind('/') + 1) + ".seg.";
  std::vector<std::string> names;
  DIR* directory = ::opendir(DirectoryOf(pool_path).c_str());
  if (directory == nullptr) return names;
  while (dirent* entry = ::readdir(directory)) {
    if (std::strncmp(entry->d_name, prefix.c_str(), prefix.size()) == 0) {
      names.push_back(entry->d_name);
    }
  }
  ::closedir(directory);
  return names;
}

// errno of opening `name` next to the pool read-only (0 if it opened).
int OpenError(const std::string& pool_path, const std::string& name) {
  int fd = ::open((DirectoryOf(pool_path) + "/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

class ConnectionSegmentsTest : public ::testing::Test {
 protected:
  ConnectionSegmentsTest() : mapping_(PoolAccess::mapping(*pool_.pool())), allocator_(&mapping_) {}
  const std::string& path() const { return mapping_.path(); }

  testing::TestPool pool_;
  PoolMapping& mapping_;
  Allocator allocator_;
};

TEST_F(ConnectionSegmentsTest, OnlyTheTwoPartiesOpenThemAndOnlyTheirSendersWriteThem) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as other users";
  ConnectionView client;
  ConnectionView server;
  Status created;
  Status accepted;
  bool opened = false;
  {
    ActAs user(kClient);
    ASSERT_TRUE(user.ok);
    created = CreateConnection(&allocator_, kCapacity, 0, kService, kServer, &client);
  }
  ASSERT_TRUE(created.ok()) << created.ToString();
  // The record is the client's to write: a lie in it must not change what the server learns.
  client.header->client_pid = 1;
  {
    ActAs user(kServer);
    ASSERT_TRUE(user.ok);
    opened = OpenConnection(allocator_, client.block_offset, kService, &server);
    if (opened) accepted = AcceptSegments(path(), &server);
  }
  ASSERT_TRUE(opened);
  ASSERT_TRUE(accepted.ok()) << accepted.ToString();
  EXPECT_EQ(server.peer->owner().uid, kClient);
  EXPECT_EQ(server.peer->owner().gid, kClient);

  std::string client_file = client.own->name();
  std::string server_file = server.own->name();
  EXPECT_EQ(server_file, client_file + ".s");
  int stranger_client = 0;
  int stranger_server = 0;
  {
    ActAs user(kStranger);
    ASSERT_TRUE(user.ok);
    stranger_client = OpenError(path(), client_file);
    stranger_server = OpenError(path(), server_file);
  }
  EXPECT_EQ(stranger_client, EACCES);
  EXPECT_EQ(stranger_server, EACCES);

  ServerSegment attached;
  {
    ActAs user(kClient);
    ASSERT_TRUE(user.ok);
    attached =
        AttachServerSegment(path(), ServerOfConnection{SelfIdentity().token, kServer}, &client);
  }
  ASSERT_EQ(attached, ServerSegment::kAttached);
  EXPECT_EQ(client.peer->owner().uid, kServer);
  // One memory per direction: what each sender publishes, its receiver reads in place.
  mapping_.visibility().Publish(&server.responses->closed, kClosedBySender);
  EXPECT_EQ(mapping_.visibility().Consume(&client.responses->closed), kClosedBySender);
  mapping_.visibility().Publish(&client.cancel_words[3], 77);
  EXPECT_EQ(mapping_.visibility().Consume(&server.cancel_words[3]), 77u);
  // Neither may write the other's direction, root or not: its descriptor is read-only.
  EXPECT_NE(::mprotect(client.responses, client.peer->page_bytes(), PROT_READ | PROT_WRITE), 0);
  EXPECT_EQ(errno, EACCES);
  EXPECT_NE(::mprotect(server.requests, server.peer->page_bytes(), PROT_READ | PROT_WRITE), 0);
  EXPECT_EQ(errno, EACCES);

  DetachConnection(&allocator_, server, Side::kServer);
  DetachConnection(&allocator_, client, Side::kClient);
  server = ConnectionView();
  client = ConnectionView();
  EXPECT_EQ(SegmentFiles(path()), std::vector<std::string>());
}

TEST_F(ConnectionSegmentsTest, AFilePlantedWhereTheServersSegmentBelongsIsNeverMapped) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as other users";
  ConnectionView client;
  ASSERT_TRUE(CreateConnection(&allocator_, kCapacity, 0, kService, kServer, &client).ok());
  std::string planted = DirectoryOf(path()) + "/" + client.own->name() + ".s";
  bool written = false;
  {
    ActAs user(kStranger);
    ASSERT_TRUE(user.ok);
    int fd = ::open(planted.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    std::string garbage(ConnectionGeometry(kCapacity).responses_bytes(), '\xff');
    written = fd >= 0 &&
              ::write(fd, garbage.data(), garbage.size()) == static_cast<ssize_t>(garbage.size());
    if (fd >= 0) ::close(fd);
  }
  ASSERT_TRUE(written) << std::strerror(errno);
  // The server says its segment is ready, but the stranger's file won the race to the name.
  Visibility::FetchOr(&client.header->lifecycle, kServerSegmentReady);
  EXPECT_EQ(AttachServerSegment(path(), ServerOfConnection{SelfIdentity().token, kServer}, &client),
            ServerSegment::kImpostor);
  // Still the zeros of "nothing from the server yet": not a byte of the planted file.
  EXPECT_EQ(mapping_.visibility().Consume(&client.responses->closed), kOpen);
  EXPECT_EQ(mapping_.visibility().Consume(&client.response_slots()[0].sequence), 0u);
  DetachConnection(&allocator_, client, Side::kClient, true);
  ::unlink(planted.c_str());
}

// The address ranges ("start-end") at which this process maps its own segments read-write: the
// servers' (whose names end in ".s") or the clients'. Each party maps its peer's read-only.
std::set<std::string> OwnSegments(Side side) {
  std::set<std::string> ranges;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range, permissions, offset, device, inode, path;
    fields >> range >> permissions >> offset >> device >> inode >> path;
    if (permissions != "rw-s" || path.find(".seg.") == std::string::npos) continue;
    bool servers = path.compare(path.size() - 2, 2, ".s") == 0;
    if (servers == (side == Side::kServer)) ranges.insert(range);
  }
  return ranges;
}

// The connections the server of `service` holds open, as its counters say; 0 if not found.
uint64_t ConnectionsOpen(Pool& pool, const std::string& service) {
  for (const ServiceReport& report : ReadServiceReports(&PoolAccess::mapping(pool))) {
    if (report.name == service && report.has_counters) return report.counters.connections_open;
  }
  return 0;
}

class ConnectionSegmentsServiceTest : public ::testing::Test {
 protected:
  // Serves an echo method of `service` in one attachment of the pool and connects two channels
  // to it from another, `honest_` and `hostile_`, each answered once. `hostile_segment_` is then
  // a read-write descriptor of the hostile connection's segment of `hostile_side`, opened through
  // this process's mapping of it as another process of that party could have kept one (root
  // only). Check with ASSERT_NO_FATAL_FAILURE.
  void ServeAndConnectHonestAndHostile(const std::string& service, Side hostile_side) {
    ASSERT_TRUE(Pool::Attach(test_pool_.name(), &server_pool_).ok());
    ASSERT_TRUE(Pool::Attach(test_pool_.name(), &client_pool_).ok());
    echo_ = std::make_unique<Service>(service);
    echo_->AddMethod("Echo",
                     [](ServerContext*, const ReceivedMessage& request, ServerResponse* response) {
                       response->Copy(request.view());
                       return Status::OK;
                     });
    ASSERT_TRUE(
        ServerBuilder(server_pool_).RegisterService(echo_.get()).BuildAndStart(&server_).ok());
    std::string response;
    ASSERT_TRUE(Channel::Connect(client_pool_, service, ChannelOptions(), &honest_).ok());
    ClientContext first;
    ASSERT_TRUE(honest_->Call("Echo", "honest", &response, &first).ok());
    std::set<std::string> before = OwnSegments(hostile_side);
    ASSERT_TRUE(Channel::Connect(client_pool_, service, ChannelOptions(), &hostile_).ok());
    ClientContext second;
    ASSERT_TRUE(hostile_->Call("Echo", "hostile", &response, &second).ok());
    std::vector<std::string> added;
    for (const std::string& range : OwnSegments(hostile_side)) {
      if (before.count(range) == 0) added.push_back(range);
    }
    ASSERT_EQ(added.size(), 1u);
    hostile_segment_ = ::open(("/proc/self/map_files/" + added[0]).c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(hostile_segment_, 0) << std::strerror(errno);
  }

  ~ConnectionSegmentsServiceTest() override {
    if (hostile_segment_ >= 0) ::close(hostile_segment_);
    hostile_.reset();
    honest_.reset();
    if (server_ != nullptr) server_->Shutdown();
  }

  testing::TestPool test_pool_;
  std::shared_ptr<Pool> server_pool_;
  std::shared_ptr<Pool> client_pool_;
  std::unique_ptr<Service> echo_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<Channel> honest_;
  std::shared_ptr<Channel> hostile_;
  int hostile_segment_ = -1;
};

TEST_F(ConnectionSegmentsServiceTest, NoSegmentFileOutlivesTheConnectionsSetUp) {
  testing::TestPool test_pool;
  std::shared_ptr<Pool> server_pool;
  std::shared_ptr<Pool> client_pool;
  ASSERT_TRUE(Pool::Attach(test_pool.name(), &server_pool).ok());
  ASSERT_TRUE(Pool::Attach(test_pool.name(), &client_pool).ok());
  Service service("test.Segments");
  service.AddMethod("Echo",
                    [](ServerContext*, const ReceivedMessage& request, ServerResponse* response) {
                      response->Copy(request.view());
                      return Status::OK;
                    });
  std::unique_ptr<Server> server;
  ASSERT_TRUE(ServerBuilder(server_pool).RegisterService(&service).BuildAndStart(&server).ok());
  std::string path = server_pool->path();
  {
    std::shared_ptr<Channel> channel;
    ASSERT_TRUE(Channel::Connect(client_pool, "test.Segments", ChannelOptions(), &channel).ok());
    std::string response;
    ClientContext first;
    ClientContext second;
    ASSERT_TRUE(channel->Call("Echo", "first", &response, &first).ok());
    EXPECT_EQ(response, "first");
    // Each side unlinks its file once the other has it open (the server within its client
    // check interval); the connection lives on in the two mappings.
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!SegmentFiles(path).empty() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(SegmentFiles(path), std::vector<std::string>());
    ASSERT_TRUE(channel->Call("Echo", "second", &response, &second).ok());
    EXPECT_EQ(response, "second");
  }
  server->Shutdown();
  EXPECT_EQ(SegmentFiles(path), std::vector<std::string>());
}

// The channel janitor's thread may be the first to touch the shortened pages (it closes the
// hostile connection once the server did): the guard must absorb the fault there too.
TEST_F(ConnectionSegmentsServiceTest, AClientThatShortensItsSegmentLosesOnlyItsOwnConnection) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to open a mapping's file by its address";
  ASSERT_NO_FATAL_FAILURE(ServeAndConnectHonestAndHostile("test.Shortened", Side::kClient));
  ASSERT_EQ(ConnectionsOpen(*client_pool_, "test.Shortened"), 2u);

  // The server's next look at the hostile connection's ring meets pages that are gone.
  ASSERT_EQ(::ftruncate(hostile_segment_, 0), 0) << std::strerror(errno);
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ConnectionsOpen(*client_pool_, "test.Shortened") != 1 &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(ConnectionsOpen(*client_pool_, "test.Shortened"), 1u)
      << "the server did not close the connection whose segment was shortened";

  std::string response;
  ClientContext third;
  Status called = honest_->Call("Echo", "still here", &response, &third);
  EXPECT_TRUE(called.ok()) << called.ToString();
  EXPECT_EQ(response, "still here");
}

// A party scribbles random bytes over its own segment of one connection while calls run: a
// client over its requests, a server over its responses (through a mapping of its own, as another
// process of the party would). Its peer never crashes or hangs, and the other connection, between
// the same two processes, gets every answer right.
class ScribbledSegmentTest : public ConnectionSegmentsServiceTest,
                             public ::testing::WithParamInterface<Side> {};

TEST_P(ScribbledSegmentTest, OnlyTheScribblersConnectionSuffers) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to open a mapping's file by its address";
  ASSERT_NO_FATAL_FAILURE(ServeAndConnectHonestAndHostile("test.Scribbled", GetParam()));
  struct stat file {};
  ASSERT_EQ(::fstat(hostile_segment_, &file), 0);
  ASSERT_GT(file.st_size, 8);
  void* base =
      ::mmap(nullptr, file.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, hostile_segment_, 0);
  ASSERT_NE(base, MAP_FAILED) << std::strerror(errno);

  std::atomic<bool> stop{false};
  std::thread scribbler([&] {
    auto size = static_cast<uint64_t>(file.st_size);
    // Half the writes land in the first 64 KiB: the header, the rings and the released list.
    testing::ScribbleUntil(static_cast<uint8_t*>(base), size, std::min<uint64_t>(size, 64 << 10),
                           stop);
  });
  uint64_t hostile_failed = 0;
  uint64_t hostile_total = 0;
  uint64_t hostile_wrong = 0;
  std::string hostile_last_failure;
  std::thread hostile_calls([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      ClientContext context;
      context.set_timeout(std::chrono::seconds(2));
      std::string ignored;
      Status called = hostile_->Call("Echo", "hostile", &ignored, &context);
      ++hostile_total;
      if (called.ok() && ignored != "hostile") ++hostile_wrong;
      if (!called.ok()) {
        ++hostile_failed;
        hostile_last_failure = called.ToString();
      }
    }
  });
  std::string response;
  uint64_t honest_calls = 0;
  auto scribble_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  while (std::chrono::steady_clock::now() < scribble_until) {
    std::string text = "honest " + std::to_string(honest_calls++);
    ClientContext context;
    context.set_timeout(std::chrono::seconds(10));
    Status called = honest_->Call("Echo", text, &response, &context);
    if (!called.ok() || response != text) {
      ADD_FAILURE() << "the honest connection answered " << called.ToString() << " '" << response
                    << "' to '" << text << "'";
      break;
    }
  }
  stop.store(true);
  scribbler.join();
  hostile_calls.join();
  ::munmap(base, file.st_size);
  EXPECT_GT(honest_calls, 0u);
  // What the scribbling did to its own connection: the peer may fail or, if the scribbler is
  // the server, answer wrongly, but only there.
  std::printf("honest: %llu calls; hostile: %llu calls, %llu answered wrongly, %llu failed%s%s\n",
              static_cast<unsigned long long>(honest_calls),
              static_cast<unsigned long long>(hostile_total),
              static_cast<unsigned long long>(hostile_wrong),
              static_cast<unsigned long long>(hostile_failed),
              hostile_failed == 0 ? "" : ", the last with ", hostile_last_failure.c_str());
  ClientContext last;
  Status called = honest_->Call("Echo", "still here", &response, &last);
  EXPECT_TRUE(called.ok()) << called.ToString();
  EXPECT_EQ(response, "still here");
}

INSTANTIATE_TEST_SUITE_P(Parties, ScribbledSegmentTest,
                         ::testing::Values(Side::kClient, Side::kServer),
                         [](const ::testing::TestParamInfo<Side>& info) {
                           return std::string(info.param == Side::kClient ? "Client" : "Server");
                         });

TEST_F(ConnectionSegmentsServiceTest, TheHandlerSeesTheCallersUidAndGidAsTheKernelRecordedThem) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as other users";
  testing::TestPool test_pool;
  std::shared_ptr<Pool> server_pool;
  std::shared_ptr<Pool> client_pool;
  ASSERT_TRUE(Pool::Attach(test_pool.name(), &server_pool).ok());
  ASSERT_TRUE(Pool::Attach(test_pool.name(), &client_pool).ok());
  Service service("test.Identity");
  // Locked because ThreadSanitizer cannot see the call's own ordering: client and server reach
  // the response ring through two mappings of one file, at different addresses.
  std::mutex seen_mutex;
  PeerIdentity seen;
  service.AddMethod("Who",
                    [&](ServerContext* context, const ReceivedMessage&, ServerResponse* response) {
                      std::lock_guard<std::mutex> lock(seen_mutex);
                      seen = context->peer_identity();
                      response->Copy("you");
                      return Status::OK;
                    });
  std::unique_ptr<Server> server;
  ASSERT_TRUE(ServerBuilder(server_pool)
                  .RegisterService(&service)
                  .AllowCallerUid(kClient)
                  .BuildAndStart(&server)
                  .ok());
  std::shared_ptr<Channel> channel;
  Status connected;
  {
    // The connection is the client's from here: its segment is created as this user.
    ThreadActsAs user(kClient);
    ASSERT_TRUE(user.ok);
    connected = Channel::Connect(client_pool, "test.Identity", ChannelOptions(), &channel);
  }
  ASSERT_TRUE(connected.ok()) << connected.ToString();
  std::string response;
  ClientContext context;
  Status called = channel->Call("Who", "", &response, &context);
  ASSERT_TRUE(called.ok()) << called.ToString();
  std::lock_guard<std::mutex> lock(seen_mutex);
  EXPECT_EQ(seen.uid, kClient);
  EXPECT_EQ(seen.gid, kClient);
  EXPECT_EQ(seen.pid, ::getpid());
  EXPECT_EQ(seen.host, HostId());
  channel.reset();
  server->Shutdown();
}

TEST_F(ConnectionSegmentsServiceTest, TheCallerSeesTheServersUidAndGidAsTheKernelRecordedThem) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as other users";
  constexpr uint32_t kServerGroup = kServer + 10;
  testing::TestPool test_pool;
  std::shared_ptr<Pool> server_pool;
  std::shared_ptr<Pool> client_pool;
  ASSERT_TRUE(Pool::Attach(test_pool.name(), &server_pool).ok());
  ASSERT_TRUE(Pool::Attach(test_pool.name(), &client_pool).ok());
  Service service("test.ServerIdentity");
  service.AddMethod("Who", [](ServerContext*, const ReceivedMessage&, ServerResponse* response) {
    response->Copy("me");
    return Status::OK;
  });
  std::unique_ptr<Server> server;
  Status started;
  {
    // The server's threads start as this user and group, and stay them: its segments are theirs.
    ThreadActsAs user(kServer, kServerGroup);
    ASSERT_TRUE(user.ok);
    started = ServerBuilder(server_pool)
                  .RegisterService(&service)
                  .AllowCallerUid(0)
                  .BuildAndStart(&server);
  }
  ASSERT_TRUE(started.ok()) << started.ToString();
  std::shared_ptr<Channel> channel;
  ASSERT_TRUE(
      Channel::Connect(client_pool, "test.ServerIdentity", ChannelOptions(), &channel).ok());
  ClientContext context;
  EXPECT_EQ(context.server_identity().uid, 0u);
  EXPECT_EQ(context.server_identity().pid, 0);
  std::string response;
  Status called = channel->Call("Who", "", &response, &context);
  ASSERT_TRUE(called.ok()) << called.ToString();
  EXPECT_EQ(context.server_identity().uid, kServer);
  EXPECT_EQ(context.server_identity().gid, kServerGroup);
  EXPECT_EQ(context.server_identity().pid, ::getpid());
  EXPECT_EQ(context.server_identity().host, HostId());
  channel.reset();
  server->Shutdown();
}

}  // namespace
}  // namespace notnets::internal
