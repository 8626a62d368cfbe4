// `notnets ping SERVICE` asks a gRPC server's default health service through the pool, and its
// exit code says what a Kubernetes probe needs: serving, not serving, absent, or an error.
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <sys/wait.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "grpc_path_test.h"
#include "notnets/grpc/server.h"
#include "notnets/pool.h"
#include "test_pool.h"

namespace notnets::test {
namespace {

constexpr char kTestService[] = "notnets.test.TestService";

// The exit codes docs/operators.md documents.
constexpr int kServing = 0;
constexpr int kFailed = 1;
constexpr int kAbsent = 3;
constexpr int kNotServing = 4;

class PingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_name_ = notnets::testing::UniquePoolName("ping");
    ::grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    notnets::grpc::ServerOptions options;
    options.pool = pool_name_;
    notnets::grpc::ServeOverPool(&builder, options);
    ::grpc::EnableDefaultHealthCheckService(true);
    server_ = builder.BuildAndStart();
    ::grpc::EnableDefaultHealthCheckService(false);
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    notnets::Pool::Remove(pool_name_);
  }

  // The exit code of `notnets ping SERVICE` on the test's pool (or on `pool`). The answer may
  // take longer than the command's default second on a loaded machine, under the cache
  // simulator.
  int Ping(const std::string& service, const std::string& pool = "") {
    std::string command = std::string(NOTNETS_COMMAND) + " ping '" + service + "' --pool " +
                          (pool.empty() ? pool_name_ : pool) + " --timeout 30 > /dev/null 2>&1";
    int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  ServerObservations observations_;
  CallbackTestService service_{&observations_};
  std::unique_ptr<::grpc::Server> server_;
  std::string pool_name_;
};

TEST_F(PingTest, ServingServerAndService) {
  // gRPC's default health service knows the server as a whole ("") from the start, and a
  // service once the server sets its status.
  EXPECT_EQ(Ping(""), kServing);
  EXPECT_EQ(Ping(kTestService), kAbsent);
  server_->GetHealthCheckService()->SetServingStatus(kTestService, true);
  EXPECT_EQ(Ping(kTestService), kServing);
}

TEST_F(PingTest, NotServingWhenTheServerSaysSo) {
  server_->GetHealthCheckService()->SetServingStatus(kTestService, false);
  EXPECT_EQ(Ping(kTestService), kNotServing);
  server_->GetHealthCheckService()->SetServingStatus(kTestService, true);
  EXPECT_EQ(Ping(kTestService), kServing);
}

TEST_F(PingTest, AbsentServiceAndGoneServer) {
  EXPECT_EQ(Ping("notnets.test.NoSuchService"), kAbsent);
  server_->Shutdown();
  server_.reset();
  EXPECT_EQ(Ping(kTestService), kAbsent);
}

TEST_F(PingTest, FailsWithoutThePool) {
  EXPECT_EQ(Ping(kTestService, notnets::testing::UniquePoolName("nopool")), kFailed);
}

}  // namespace
}  // namespace notnets::test
