// The fixture of the gRPC behaviour suite: a grpc::Server with one of the test services and a
// notnets::grpc channel to it, in four variants. The same test gives the same results in all of
// them, except for the path the calls take, which each test checks too.
#ifndef NOTNETS_TESTS_GRPC_GRPC_PATH_TEST_H_
#define NOTNETS_TESTS_GRPC_GRPC_PATH_TEST_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "async_test_services.h"
#include "gtest/gtest.h"
#include "notnets/grpc/channel.h"
#include "test_service.grpc.pb.h"
#include "test_services.h"

namespace notnets::test {

// kPool: the server serves over the pool only (it has no HTTP/2 port, and the channel no
// target), so every call must go through the pool. kHttp2: the server serves over HTTP/2 only,
// so the channel falls back to HTTP/2.
enum class Path { kPool, kHttp2 };
// The server API of the test service: Foo::Service, Foo::CallbackService, Foo::AsyncService, and
// a Foo::Service with Echo on the completion-queue API (async_test_services.h).
enum class Flavor { kSync, kCallback, kAsync, kMixed };

struct Variant {
  Path path;
  Flavor flavor;
};

// "Pool_Sync", "Http2_Callback", ...
std::string VariantName(const ::testing::TestParamInfo<Variant>& info);

// So that failure messages name the variant rather than dump its bytes.
void PrintTo(const Variant& variant, std::ostream* os);

// Every path with every flavour, for INSTANTIATE_TEST_SUITE_P with ::testing::ValuesIn.
std::vector<Variant> AllVariants();

// Starts a gRPC server for `service`, on a free localhost port when `path` is Path::kHttp2, over
// the pool `pool` only when it is Path::kPool, and makes `*channel` a notnets::grpc channel to it
// that knows the pool, with the client interceptors `interceptors` make. `configure`, if set, sets
// up the server's builder further before it starts; the channel has the arguments `arguments`.
// Leaves `*server` null if the server could not start.
void StartServer(Path path, const std::string& pool, ::grpc::Service* service,
                 std::unique_ptr<::grpc::Server>* server, std::shared_ptr<::grpc::Channel>* channel,
                 notnets::grpc::InterceptorFactories interceptors = {},
                 const std::function<void(::grpc::ServerBuilder*)>& configure = nullptr,
                 const ::grpc::ChannelArguments& arguments = ::grpc::ChannelArguments());

class GrpcPathTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // The client interceptors the channel runs.
  virtual notnets::grpc::InterceptorFactories Interceptors() { return {}; }
  // More set-up of the server's builder, and the channel's arguments.
  virtual void ConfigureServer(::grpc::ServerBuilder*) {}
  virtual ::grpc::ChannelArguments ChannelArguments() { return ::grpc::ChannelArguments(); }

  // Whether the channel should send calls of the test service's unary methods, and of its
  // streaming ones, through the pool in this variant (all of them on Path::kPool).
  bool UnaryOverPool() const;
  bool StreamingOverPool() const;

  // Expects the channel to have started exactly `unary_calls` calls of unary and
  // `streaming_calls` of streaming methods of the test service, and `http2_only_calls` of
  // methods no server serves over the pool, each on the path it should take.
  void ExpectPaths(uint64_t unary_calls, uint64_t streaming_calls = 0,
                   uint64_t http2_only_calls = 0) const;

  // Expects the server initial metadata of a finished call to say it went through the pool
  // exactly when `over_pool`.
  static void ExpectPeer(const ::grpc::ClientContext& context, bool over_pool);

  ServerObservations observations_;
  std::unique_ptr<::grpc::Service> service_;
  std::unique_ptr<::grpc::Server> server_;
  std::shared_ptr<::grpc::Channel> channel_;
  std::unique_ptr<TestService::Stub> stub_;
  // Set for the completion-queue flavours: their queue's poller.
  CompletionQueueServing* serving_ = nullptr;

 private:
  std::string pool_name_;
};

// A deadline far enough away that only a call that hangs reaches it: it turns a hang into a
// failure of one test.
void SetHangDeadline(::grpc::ClientContext* context);

// Polls `condition` until it holds (true) or `bound` has passed (false).
bool Eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds bound = std::chrono::seconds(5));

// The end of a call made with the callback API, waited for by the test's thread.
class CallDone {
 public:
  void Set(const ::grpc::Status& status);
  ::grpc::Status Wait();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  ::grpc::Status status_;
};

using MetadataList = std::vector<std::pair<std::string, std::string>>;

// The entries of received metadata in order, without those gRPC or the pool path add.
MetadataList UserMetadata(const std::multimap<::grpc::string_ref, ::grpc::string_ref>& metadata);

}  // namespace notnets::test

#endif  // NOTNETS_TESTS_GRPC_GRPC_PATH_TEST_H_
