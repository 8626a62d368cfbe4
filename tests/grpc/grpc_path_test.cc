#include "grpc_path_test.h"

#include <thread>

#include "notnets/grpc/channel.h"
#include "notnets/grpc/server.h"
#include "notnets/pool.h"
#include "test_pool.h"

namespace notnets::test {

namespace {

std::string Name(const Variant& variant) {
  const char* flavor = "";
  switch (variant.flavor) {
    case Flavor::kSync:
      flavor = "Sync";
      break;
    case Flavor::kCallback:
      flavor = "Callback";
      break;
    case Flavor::kAsync:
      flavor = "Async";
      break;
    case Flavor::kMixed:
      flavor = "Mixed";
      break;
  }
  return std::string(variant.path == Path::kPool ? "Pool" : "Http2") + "_" + flavor;
}

}  // namespace

std::string VariantName(const ::testing::TestParamInfo<Variant>& info) { return Name(info.param); }

void PrintTo(const Variant& variant, std::ostream* os) { *os << Name(variant); }

std::vector<Variant> AllVariants() {
  std::vector<Variant> variants;
  for (Path path : {Path::kPool, Path::kHttp2}) {
    for (Flavor flavor : {Flavor::kSync, Flavor::kCallback, Flavor::kAsync, Flavor::kMixed}) {
      variants.push_back({path, flavor});
    }
  }
  return variants;
}

void GrpcPathTest::SetUp() {
  pool_name_ = notnets::testing::UniquePoolName("grpc");
  switch (GetParam().flavor) {
    case Flavor::kSync:
      service_ = std::make_unique<SyncTestService>(&observations_);
      break;
    case Flavor::kCallback:
      service_ = std::make_unique<CallbackTestService>(&observations_);
      break;
    case Flavor::kAsync: {
      auto service = std::make_unique<AsyncTestService>(&observations_);
      serving_ = service.get();
      service_ = std::move(service);
      break;
    }
    case Flavor::kMixed: {
      auto service = std::make_unique<MixedTestService>(&observations_);
      serving_ = service.get();
      service_ = std::move(service);
      break;
    }
  }
  StartServer(
      GetParam().path, pool_name_, service_.get(), &server_, &channel_, Interceptors(),
      [this](::grpc::ServerBuilder* builder) {
        if (serving_ != nullptr) serving_->AddTo(builder);
        ConfigureServer(builder);
      },
      ChannelArguments());
  ASSERT_NE(server_, nullptr);
  if (serving_ != nullptr) serving_->Run();
  stub_ = TestService::NewStub(channel_);
}

void StartServer(Path path, const std::string& pool, ::grpc::Service* service,
                 std::unique_ptr<::grpc::Server>* server, std::shared_ptr<::grpc::Channel>* channel,
                 notnets::grpc::InterceptorFactories interceptors,
                 const std::function<void(::grpc::ServerBuilder*)>& configure,
                 const ::grpc::ChannelArguments& arguments) {
  ::grpc::ServerBuilder builder;
  int port = 0;
  if (path == Path::kHttp2) {
    builder.AddListeningPort("localhost:0", ::grpc::InsecureServerCredentials(), &port);
  }
  builder.RegisterService(service);
  if (path == Path::kPool) {
    notnets::grpc::ServerOptions options;
    options.pool = pool;
    notnets::grpc::ServeOverPool(&builder, service, options);
  }
  if (configure) configure(&builder);
  *server = builder.BuildAndStart();
  if (*server == nullptr || (path == Path::kHttp2 && port == 0)) {
    server->reset();
    return;
  }
  notnets::grpc::ChannelOptions options;
  options.pool = pool;
  options.arguments = arguments;
  *channel = notnets::grpc::CreateChannel(
      path == Path::kHttp2 ? "localhost:" + std::to_string(port) : std::string(), options,
      std::move(interceptors));
}

void GrpcPathTest::TearDown() {
  stub_.reset();
  channel_.reset();
  if (server_ != nullptr) server_->Shutdown();
  if (serving_ != nullptr) serving_->Stop();
  server_.reset();
  notnets::Pool::Remove(pool_name_);
}

bool GrpcPathTest::UnaryOverPool() const { return GetParam().path == Path::kPool; }

bool GrpcPathTest::StreamingOverPool() const { return GetParam().path == Path::kPool; }

void GrpcPathTest::ExpectPaths(uint64_t unary_calls, uint64_t streaming_calls,
                               uint64_t http2_only_calls) const {
  uint64_t pool = 0;
  uint64_t http2 = http2_only_calls;
  (UnaryOverPool() ? pool : http2) += unary_calls;
  (StreamingOverPool() ? pool : http2) += streaming_calls;
  notnets::grpc::PathCounters counters = notnets::grpc::GetPathCounters(*channel_);
  EXPECT_EQ(counters.pool_calls, pool) << "calls through the pool";
  EXPECT_EQ(counters.http2_calls, http2) << "calls over HTTP/2";
}

void GrpcPathTest::ExpectPeer(const ::grpc::ClientContext& context, bool over_pool) {
  const auto& metadata = context.GetServerInitialMetadata();
  auto peer = metadata.find(notnets::grpc::kPoolPeerKey);
  if (!over_pool) {
    EXPECT_EQ(peer, metadata.end()) << "a call over HTTP/2 says it went through the pool";
    return;
  }
  ASSERT_NE(peer, metadata.end()) << "a call through the pool lacks "
                                  << notnets::grpc::kPoolPeerKey;
  EXPECT_TRUE(std::string_view(peer->second.data(), peer->second.size()).starts_with("notnets:"))
      << std::string(peer->second.data(), peer->second.size());
}

void SetHangDeadline(::grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
}

bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds bound) {
  auto give_up = std::chrono::steady_clock::now() + bound;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void CallDone::Set(const ::grpc::Status& status) {
  // Notified under the lock: the waiter may destroy this object as soon as it has the lock.
  std::lock_guard<std::mutex> lock(mu_);
  status_ = status;
  done_ = true;
  cv_.notify_all();
}

::grpc::Status CallDone::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done_; });
  return status_;
}

MetadataList UserMetadata(const std::multimap<::grpc::string_ref, ::grpc::string_ref>& metadata) {
  MetadataList entries;
  for (const auto& [key, value] : metadata) {
    std::string k(key.data(), key.size());
    if (k == notnets::grpc::kPoolPeerKey || k.starts_with("grpc-")) continue;
    entries.emplace_back(std::move(k), std::string(value.data(), value.size()));
  }
  return entries;
}

}  // namespace notnets::test
