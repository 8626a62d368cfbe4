// ServeOverPool(&builder, options) serves every service of the grpc::Server, those registered on
// the builder and the ones gRPC adds (here the default health service, whose binding the suite
// links), with the same results over the pool (a server with no HTTP/2 port) and over HTTP/2.
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <memory>
#include <string>

#include "grpc_path_test.h"
#include "health.grpc.pb.h"
#include "notnets/grpc/server.h"
#include "notnets/pool.h"
#include "test_pool.h"

namespace notnets::test {
namespace {

using ::grpc::ClientContext;
using ::grpc::Status;
using ::grpc::StatusCode;
using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

constexpr char kTestService[] = "notnets.test.TestService";

class ServeAllTest : public ::testing::TestWithParam<Path> {
 protected:
  void SetUp() override {
    pool_name_ = notnets::testing::UniquePoolName("grpcall");
    ::grpc::ServerBuilder builder;
    int port = 0;
    if (GetParam() == Path::kHttp2) {
      builder.AddListeningPort("localhost:0", ::grpc::InsecureServerCredentials(), &port);
    }
    builder.RegisterService(&service_);
    if (GetParam() == Path::kPool) {
      notnets::grpc::ServerOptions options;
      options.pool = pool_name_;
      notnets::grpc::ServeOverPool(&builder, options);
    }
    // The default health service is added to servers built while this is set.
    ::grpc::EnableDefaultHealthCheckService(true);
    server_ = builder.BuildAndStart();
    ::grpc::EnableDefaultHealthCheckService(false);
    ASSERT_NE(server_, nullptr);
    notnets::grpc::ChannelOptions options;
    options.pool = pool_name_;
    channel_ = notnets::grpc::CreateChannel(
        GetParam() == Path::kHttp2 ? "localhost:" + std::to_string(port) : std::string(), options);
  }
  void TearDown() override {
    channel_.reset();
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    notnets::Pool::Remove(pool_name_);
  }

  // Expects `calls` calls so far, all on the variant's path.
  void ExpectPaths(uint64_t calls) const {
    notnets::grpc::PathCounters counters = notnets::grpc::GetPathCounters(*channel_);
    EXPECT_EQ(counters.pool_calls, GetParam() == Path::kPool ? calls : 0);
    EXPECT_EQ(counters.http2_calls, GetParam() == Path::kHttp2 ? calls : 0);
  }

  HealthCheckResponse::ServingStatus Check(const std::string& service, Status* status) {
    auto stub = Health::NewStub(channel_);
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    ClientContext context;
    SetHangDeadline(&context);
    *status = stub->Check(&context, request, &response);
    return response.status();
  }

  ServerObservations observations_;
  CallbackTestService service_{&observations_};
  std::unique_ptr<::grpc::Server> server_;
  std::shared_ptr<::grpc::Channel> channel_;
  std::string pool_name_;
};

INSTANTIATE_TEST_SUITE_P(Paths, ServeAllTest, ::testing::Values(Path::kPool, Path::kHttp2),
                         [](const ::testing::TestParamInfo<Path>& info) {
                           return std::string(info.param == Path::kPool ? "Pool" : "Http2");
                         });

TEST_P(ServeAllTest, ServesTheBuildersServices) {
  auto stub = TestService::NewStub(channel_);
  EchoRequest request;
  request.set_payload("every service");
  EchoResponse response;
  ClientContext context;
  SetHangDeadline(&context);
  Status status = stub->Echo(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(response.payload(), "every service");
  ExpectPaths(1);
}

TEST_P(ServeAllTest, HealthCheck) {
  server_->GetHealthCheckService()->SetServingStatus(kTestService, false);
  Status status;
  EXPECT_EQ(Check("", &status), HealthCheckResponse::SERVING);
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(Check(kTestService, &status), HealthCheckResponse::NOT_SERVING);
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  Check("no.such.Service", &status);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND) << status.error_message();
  ExpectPaths(3);
}

TEST_P(ServeAllTest, HealthWatch) {
  server_->GetHealthCheckService()->SetServingStatus(kTestService, true);
  auto stub = Health::NewStub(channel_);
  HealthCheckRequest request;
  request.set_service(kTestService);
  ClientContext context;
  SetHangDeadline(&context);
  auto reader = stub->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  server_->GetHealthCheckService()->SetServingStatus(kTestService, false);
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::CANCELLED) << status.error_message();
  ExpectPaths(1);
}

}  // namespace
}  // namespace notnets::test
