// Leases across hosts (pool/lease.h, pool/lease_keeper.h): a process of another host is alive
// while its lease advances and is fenced once it stops; one of this host is judged by the kernel;
// a process whose own lease was fenced writes nothing more under that identity and fails its calls
// with UNAVAILABLE, then rejoins under a new one: its channels and servers work again.
// The "other host" is a record planted in the table with another host id.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "notnets/channel.h"
#include "notnets/client_context.h"
#include "notnets/server.h"
#include "pool/call_window.h"
#include "pool/host_id.h"
#include "pool/lease_table.h"
#include "pool/pool_access.h"
#include "pool/process_identity.h"
#include "test_pool.h"

namespace notnets {
namespace {

using internal::IsAlive;
using internal::kLeaseFenced;
using internal::LeaseRecord;
using internal::PoolAccess;
using internal::ProcessIdentity;
using testing::TestPool;
using Clock = std::chrono::steady_clock;

// Bound for "eventually": generous, so that a loaded machine passes; never a measured time.
constexpr auto kEventually = std::chrono::seconds(20);

PoolOptions WithLeasePeriod(std::chrono::milliseconds period) {
  PoolOptions options;
  options.lease_period = period;
  return options;
}

LeaseRecord* Records(const Pool& pool) {
  internal::PoolMapping& mapping = PoolAccess::mapping(pool);
  uint64_t offset = internal::LeaseTableOffset(
      mapping.call_window_offset(),
      uint64_t{mapping.call_window_slots()} * sizeof(internal::CallWindowSlot));
  return mapping.At<LeaseRecord>(offset + sizeof(internal::LeaseTableHeader));
}

// Writes a held record for `token` on host `host` into a free slot, as that process would.
LeaseRecord* Plant(const Pool& pool, uint64_t token, uint64_t host) {
  LeaseRecord* records = Records(pool);
  for (uint32_t slot = 0; slot < internal::kLeaseSlots; ++slot) {
    if (records[slot].lease.load() != 0) continue;
    records[slot].token.store(token);
    records[slot].host.store(host);
    records[slot].lease.store((uint64_t{1} << 32) | 1);
    return &records[slot];
  }
  ADD_FAILURE() << "no free lease record";
  return nullptr;
}

template <typename Predicate>
bool Eventually(Predicate done) {
  for (auto give_up = Clock::now() + kEventually; Clock::now() < give_up;) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

TEST(LeaseTest, APeerOfAnotherHostThatStopsRenewingIsFencedAndDead) {
  TestPool test_pool(WithLeasePeriod(std::chrono::milliseconds(100)));
  const uint64_t token = (1ull << 62) | 12345;
  LeaseRecord* record = Plant(*test_pool.pool(), token, internal::HostId() + 1);
  ASSERT_NE(record, nullptr);
  EXPECT_TRUE(IsAlive(ProcessIdentity{7, token}));
  ASSERT_TRUE(Eventually([&] {
    return !IsAlive(ProcessIdentity{7, token});
  })) << "a lease that never advanced was never judged dead";
  EXPECT_NE(record->lease.load() & kLeaseFenced, 0u) << "the dead peer's record was not fenced";
}

TEST(LeaseTest, APeerOfAnotherHostThatRenewsStaysAlive) {
  TestPool test_pool(WithLeasePeriod(std::chrono::milliseconds(500)));
  const uint64_t token = (1ull << 62) | 23456;
  LeaseRecord* record = Plant(*test_pool.pool(), token, internal::HostId() + 1);
  ASSERT_NE(record, nullptr);
  std::atomic<bool> stop{false};
  std::thread renewer([&] {
    while (!stop.load()) {
      record->lease.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  bool always_alive = true;
  for (auto end = Clock::now() + std::chrono::milliseconds(1500); Clock::now() < end;) {
    always_alive = always_alive && IsAlive(ProcessIdentity{7, token});
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop.store(true);
  renewer.join();
  EXPECT_TRUE(always_alive) << "a peer whose lease advanced was declared dead";
  EXPECT_EQ(record->lease.load() & kLeaseFenced, 0u);
}

// A process that died between taking a record (kLeaseClaiming) and publishing its lease left the
// record half-claimed, still naming the token of the record's previous owner.
TEST(LeaseTest, ARecordLeftHalfClaimedIsFencedAfterALeasePeriod) {
  TestPool test_pool(WithLeasePeriod(std::chrono::milliseconds(100)));
  const uint64_t previous_owner = (1ull << 62) | 56789;
  LeaseRecord* record = Plant(*test_pool.pool(), previous_owner, internal::HostId());
  ASSERT_NE(record, nullptr);
  record->lease.store(internal::kLeaseClaiming | (uint64_t{2} << 32));
  ASSERT_TRUE(Eventually([&] { return (record->lease.load() & kLeaseFenced) != 0; }))
      << "a half-claimed record was never fenced: it is lost to the table for good";
  EXPECT_FALSE(IsAlive(ProcessIdentity{7, previous_owner}));
}

TEST(LeaseTest, AProcessOfThisHostIsJudgedByTheKernelAndOneWithoutARecordIsDead) {
  TestPool test_pool;
  const uint64_t locked_by_nobody = (1ull << 62) | 34567;
  LeaseRecord* record = Plant(*test_pool.pool(), locked_by_nobody, internal::HostId());
  ASSERT_NE(record, nullptr);
  EXPECT_FALSE(IsAlive(ProcessIdentity{7, locked_by_nobody}));
  EXPECT_EQ(record->lease.load() & kLeaseFenced, 0u) << "a record of this host was fenced";
  EXPECT_FALSE(IsAlive(ProcessIdentity{7, (1ull << 62) | 45678}));
  EXPECT_TRUE(IsAlive(internal::SelfIdentity()));
}

TEST(LeaseTest, APoolRefusesALeasePeriodOutOfRange) {
  std::shared_ptr<Pool> pool;
  Status status = Pool::Create(testing::UniquePoolName("lease"),
                               WithLeasePeriod(std::chrono::milliseconds(5)), &pool);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT) << status.ToString();
}

TEST(LeaseTest, AProcessWhoseLeaseWasFencedFailsItsCallsThenRejoins) {
  TestPool test_pool(WithLeasePeriod(std::chrono::milliseconds(100)));
  uint64_t empty = test_pool.pool()->Stats().heap_used_bytes;
  std::atomic<bool> held{false};
  std::atomic<bool> release{false};
  Service service("test.Echo");
  service.AddMethod("Echo",
                    [](ServerContext*, const ReceivedMessage& request, ServerResponse* response) {
                      response->Copy(request.view());
                      return Status::OK;
                    });
  service.AddMethod("Hold", [&](ServerContext*, const ReceivedMessage&, ServerResponse*) {
    held.store(true);
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return Status::OK;
  });
  std::unique_ptr<Server> server;
  ASSERT_TRUE(
      ServerBuilder(test_pool.pool()).RegisterService(&service).BuildAndStart(&server).ok());
  std::shared_ptr<Pool> client_pool;
  ASSERT_TRUE(Pool::Attach(test_pool.name(), &client_pool).ok());
  std::shared_ptr<Channel> channel;
  ASSERT_TRUE(Channel::Connect(client_pool, "test.Echo", ChannelOptions(), &channel).ok());
  std::string response;
  ClientContext first;
  ASSERT_TRUE(channel->Call("Echo", "before", &response, &first).ok());
  uint64_t old_token = internal::SelfIdentity().token;

  // A call in flight when the fence comes: a call started after it may find the process rejoined
  // already and connect again, but this one's connection was reclaimed with the old identity.
  Status status;
  std::thread in_flight([&] {
    std::string held_response;
    ClientContext context;
    context.set_deadline(Clock::now() + kEventually);  // a call the fence did not end fails too
    status = channel->Call("Hold", "", &held_response, &context);
  });
  if (!Eventually([&] { return held.load(); })) {
    release.store(true);
    in_flight.join();
    FAIL() << "the held call never reached its server: " << status.ToString();
  }
  // A peer of another host fences the client mapping's record, as if it had judged it stale.
  LeaseRecord* own = Records(*client_pool) + PoolAccess::mapping(*client_pool).lease().slot();
  own->lease.fetch_or(kLeaseFenced);
  in_flight.join();
  release.store(true);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.ToString();

  // The process rejoins under a new token; the same channel connects again, to the server of
  // this process, which registered its service again under that token.
  EXPECT_TRUE(Eventually([&] {
    ClientContext context;
    return channel->Call("Echo", "again", &response, &context).ok() && response == "again";
  })) << "the channel never worked again";
  EXPECT_NE(internal::SelfIdentity().token, old_token);
  EXPECT_FALSE(IsAlive(ProcessIdentity{0, old_token})) << "the old identity still looks alive";
  std::shared_ptr<Channel> other;
  ASSERT_TRUE(Channel::Connect(test_pool.pool(), "test.Echo", ChannelOptions(), &other).ok());
  ClientContext unaffected;
  EXPECT_TRUE(other->Call("Echo", "still", &response, &unaffected).ok());
  channel.reset();
  other.reset();
  client_pool.reset();
  server->Shutdown();
  // What the old identity held (its connection, the server's old entry) came back.
  EXPECT_TRUE(Eventually([&] { return test_pool.pool()->Stats().heap_used_bytes == empty; }))
      << test_pool.pool()->Stats().heap_used_bytes << " bytes used, " << empty << " at first";
}

}  // namespace
}  // namespace notnets
