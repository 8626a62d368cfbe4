// The notnets command against a live server: what ls, stats (text, JSON, Prometheus, /metrics)
// and top print must be what the server did. The server runs in this process; the command reads
// its counters from another one, as an operator's would.
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "notnets/channel.h"
#include "notnets/server.h"
#include "test_pool.h"

namespace notnets {
namespace {

constexpr char kService[] = "cli.Test";
constexpr int kWorkers = 2;

// Runs `command` through the shell; its standard output, and its exit code in `*exit_code`.
std::string RunShell(const std::string& command, int* exit_code) {
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string out;
  if (pipe == nullptr) {
    *exit_code = -1;
    return out;
  }
  char buffer[4096];
  size_t read;
  while ((read = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, read);
  int status = ::pclose(pipe);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

class NotnetsCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_.AddMethod(
        "Echo", [](ServerContext*, const ReceivedMessage& request, ServerResponse* response) {
          response->Copy(request.view());
          return Status::OK;
        });
    service_.AddMethod("Missing", [](ServerContext*, const ReceivedMessage&, ServerResponse*) {
      return Status(StatusCode::NOT_FOUND, "no such thing");
    });
    service_.AddAsyncMethod(
        "Later", [](ServerCall* call) { call->Finish(Status(StatusCode::ABORTED, "")); });
    ASSERT_TRUE(ServerBuilder(pool_.pool())
                    .RegisterService(&service_)
                    .SetWorkerThreads(kWorkers)
                    .BuildAndStart(&server_)
                    .ok());
    ASSERT_TRUE(Channel::Connect(pool_.pool(), kService, ChannelOptions(), &channel_).ok());
  }

  // Makes `count` calls of `method`, each answered with `code`.
  void Call(const std::string& method, int count, StatusCode code) {
    for (int i = 0; i < count; ++i) {
      std::string response;
      ClientContext context;
      EXPECT_EQ(channel_->Call(method, "hello", &response, &context).error_code(), code);
    }
  }

  std::string Command(const std::string& arguments) {
    return std::string(NOTNETS_COMMAND) + " " + arguments + " --pool " + pool_.name();
  }

  // Waits until `notnets stats` counts `calls` finished calls of the service. A server writes its
  // counters back now and then, so on memory without coherence (the cache simulator) they reach
  // the command a few milliseconds late; a count that never arrives fails the test.
  void AwaitFinishedCalls(int calls);

  testing::TestPool pool_;
  Service service_{kService};
  std::unique_ptr<Server> server_;
  std::shared_ptr<Channel> channel_;
};

// The service's object in `notnets stats --format=json`, or null.
nlohmann::json FindService(const nlohmann::json& document, const std::string& name) {
  for (const nlohmann::json& service : document.at("services")) {
    if (service.at("name") == name) return service;
  }
  return nullptr;
}

void NotnetsCommandTest::AwaitFinishedCalls(int calls) {
  std::string out;
  for (int attempt = 0; attempt < 500; ++attempt) {
    int exit_code;
    out = RunShell(Command("stats --format=json"), &exit_code);
    ASSERT_EQ(exit_code, 0) << out;
    nlohmann::json service = FindService(nlohmann::json::parse(out), kService);
    ASSERT_FALSE(service.is_null()) << out;
    const nlohmann::json& counters = service.at("counters");
    if (!counters.is_null() && counters.at("calls_finished") == calls) return;
    ::usleep(10000);
  }
  FAIL() << "never " << calls << " calls finished: " << out;
}

TEST_F(NotnetsCommandTest, JsonCountsTheCallsMade) {
  const int echoes = 7, missing = 3, later = 2;
  Call("Echo", echoes, StatusCode::OK);
  Call("Missing", missing, StatusCode::NOT_FOUND);
  Call("Later", later, StatusCode::ABORTED);
  const int calls = echoes + missing + later;
  ASSERT_NO_FATAL_FAILURE(AwaitFinishedCalls(calls));
  int exit_code;
  std::string out = RunShell(Command("stats --format=json"), &exit_code);
  ASSERT_EQ(exit_code, 0) << out;
  nlohmann::json document = nlohmann::json::parse(out);  // throws, failing the test, if malformed
  EXPECT_EQ(document.at("pool"), pool_.pool()->path());
  nlohmann::json service = FindService(document, kService);
  ASSERT_FALSE(service.is_null()) << out;
  EXPECT_EQ(service.at("state"), "serving");
  EXPECT_EQ(service.at("methods"), 3);
  EXPECT_EQ(service.at("server").at("pid"), ::getpid());
  EXPECT_EQ(service.at("server").at("alive"), true);
  EXPECT_EQ(service.at("server").at("uid"), ::geteuid());
  EXPECT_EQ(service.at("connections").at("open"), 1);
  EXPECT_EQ(service.at("connections").at("accepted"), 1);
  const nlohmann::json& counters = service.at("counters");
  EXPECT_EQ(counters.at("workers"), kWorkers);
  EXPECT_EQ(counters.at("calls_started"), calls);
  EXPECT_EQ(counters.at("calls_finished"), calls);
  const nlohmann::json& by_code = counters.at("calls_by_code");
  EXPECT_EQ(by_code.size(), 17u);
  EXPECT_EQ(by_code.at("OK"), echoes);
  EXPECT_EQ(by_code.at("NOT_FOUND"), missing);
  EXPECT_EQ(by_code.at("ABORTED"), later);
  const nlohmann::json& latency = counters.at("latency");
  uint64_t counted = 0;
  uint64_t previous_bound = 0;
  for (const nlohmann::json& bucket : latency.at("buckets")) {
    EXPECT_GT(bucket.at("le_ns").get<uint64_t>(), previous_bound);
    previous_bound = bucket.at("le_ns").get<uint64_t>();
    counted += bucket.at("count").get<uint64_t>();
  }
  // Each worker times the first of every 16 calls it takes: with fewer than 17 calls each, one
  // call per worker that took any.
  static_assert(echoes + missing + later < 17);
  EXPECT_GE(counted, 1u);
  EXPECT_LE(counted, static_cast<uint64_t>(kWorkers));
  EXPECT_GT(latency.at("sum_ns").get<uint64_t>(), 0u);
  EXPECT_LE(latency.at("p50_le_ns").get<uint64_t>(), latency.at("p99_le_ns").get<uint64_t>());
}

// Debian's python3: python3-jsonschema installs the module for it alone, so a python3 found
// earlier on PATH (pyenv, a virtualenv) may not have it.
constexpr char kDebianPython[] = "/usr/bin/python3";

TEST_F(NotnetsCommandTest, JsonFollowsItsSchema) {
  int exit_code;
  RunShell(std::string(kDebianPython) + " -c 'import jsonschema' 2>&1", &exit_code);
  ASSERT_EQ(exit_code, 0) << "python3-jsonschema is not installed: run scripts/install-deps.sh";
  Call("Echo", 2, StatusCode::OK);
  Call("Missing", 1, StatusCode::NOT_FOUND);
  ASSERT_NO_FATAL_FAILURE(AwaitFinishedCalls(3));
  std::string out = RunShell(Command("stats --format=json"), &exit_code);
  ASSERT_EQ(exit_code, 0) << out;
  std::string file = ::testing::TempDir() + "notnets-stats-" + std::to_string(::getpid()) + ".json";
  std::ofstream(file) << out;
  std::string errors = RunShell(std::string(kDebianPython) + " -m jsonschema --instance " + file +
                                    " " + NOTNETS_STATS_SCHEMA + " 2>&1",
                                &exit_code);
  std::remove(file.c_str());
  EXPECT_EQ(exit_code, 0) << errors << "\n" << out;
  EXPECT_EQ(errors, "") << out;
}

TEST_F(NotnetsCommandTest, JsonLeavesOutAServiceThatShutDown) {
  channel_.reset();
  server_->Shutdown();
  int exit_code;
  std::string out = RunShell(Command("stats --format=json"), &exit_code);
  ASSERT_EQ(exit_code, 0) << out;
  EXPECT_TRUE(FindService(nlohmann::json::parse(out), kService).is_null()) << out;
}

TEST_F(NotnetsCommandTest, PrometheusOutputPassesPromtool) {
  Call("Echo", 5, StatusCode::OK);
  ASSERT_NO_FATAL_FAILURE(AwaitFinishedCalls(5));
  int exit_code;
  std::string out = RunShell(Command("stats --format=prometheus"), &exit_code);
  ASSERT_EQ(exit_code, 0) << out;
  std::string expected = "notnets_service_calls_finished_total{code=\"OK\",pool=\"" +
                         pool_.pool()->path() + "\",service=\"cli.Test\"} 5\n";
  EXPECT_NE(out.find(expected), std::string::npos) << out;
  EXPECT_NE(out.find("notnets_service_call_duration_seconds_count{pool=\"" + pool_.pool()->path() +
                     "\",service=\"cli.Test\"} "),
            std::string::npos)
      << out;
  RunShell("command -v promtool", &exit_code);
  ASSERT_EQ(exit_code, 0)
      << "promtool is not installed (Debian package prometheus): run scripts/install-deps.sh";
  std::string file = ::testing::TempDir() + "notnets-metrics-" + std::to_string(::getpid());
  std::ofstream(file) << out;
  std::string lint = RunShell("promtool check metrics < " + file + " 2>&1", &exit_code);
  std::remove(file.c_str());
  EXPECT_EQ(exit_code, 0) << lint << "\n" << out;
  EXPECT_EQ(lint, "") << out;
}

TEST_F(NotnetsCommandTest, ServeAnswersScrapesUntilTerminated) {
  Call("Echo", 4, StatusCode::OK);
  int out_pipe[2];
  ASSERT_EQ(::pipe(out_pipe), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    std::string pool = pool_.name();
    ::execl(NOTNETS_COMMAND, NOTNETS_COMMAND, "stats", "--serve", "127.0.0.1:0", "--pool",
            pool.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  std::string line;
  char c;
  while (::read(out_pipe[0], &c, 1) == 1 && c != '\n') line += c;
  ::close(out_pipe[0]);
  const std::string prefix = "serving http://127.0.0.1:";
  ASSERT_EQ(line.rfind(prefix, 0), 0u) << line;
  int port = std::atoi(line.c_str() + prefix.size());
  httplib::Client client("127.0.0.1", port);
  // A server writes its counters back now and then, so on memory without coherence (the cache
  // simulator) a scrape may show them a few milliseconds late.
  auto scrape_until = [&client](const std::string& wanted) {
    std::string body;
    for (int attempt = 0; attempt < 500; ++attempt) {
      httplib::Result result = client.Get("/metrics");
      if (!result) return "no answer: " + httplib::to_string(result.error());
      if (result->status != 200) return "status " + std::to_string(result->status);
      body = result->body;
      if (body.find(wanted) != std::string::npos) return std::string("found");
      ::usleep(10000);
    }
    return body;
  };
  EXPECT_EQ(scrape_until("notnets_service_calls_started_total{pool=\"" + pool_.pool()->path() +
                         "\",service=\"cli.Test\"} 4\n"),
            "found");
  Call("Echo", 1, StatusCode::OK);
  EXPECT_EQ(scrape_until("service=\"cli.Test\"} 5\n"), "found");
  ::kill(child, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(NotnetsCommandTest, LsListsTheServiceWithItsServer) {
  int exit_code;
  std::string out = RunShell(Command("ls"), &exit_code);
  ASSERT_EQ(exit_code, 0) << out;
  std::string row;
  for (size_t start = 0, end; start < out.size(); start = end + 1) {
    end = out.find('\n', start);
    if (out.compare(start, sizeof(kService) - 1, kService) == 0)
      row = out.substr(start, end - start);
  }
  ASSERT_FALSE(row.empty()) << out;
  EXPECT_NE(row.find(" serving "), std::string::npos) << row;
  EXPECT_NE(row.find(" " + std::to_string(::getpid()) + " "), std::string::npos) << row;
  EXPECT_NE(row.find(" 0/" + std::to_string(kWorkers) + " "), std::string::npos) << row;
}

TEST_F(NotnetsCommandTest, PoolInspectShowsWhoMayCallTheService) {
  int exit_code;
  std::string out =
      RunShell(std::string(NOTNETS_COMMAND) + " pool inspect " + pool_.name(), &exit_code);
  ASSERT_EQ(exit_code, 0) << out;
  std::string uid = std::to_string(::geteuid());
  // By default a server takes only callers of its own uid, and its name is its own.
  EXPECT_NE(out.find("server uid " + uid + ", callers uid " + uid + ", owner uid " + uid + "\n"),
            std::string::npos)
      << out;
}

TEST_F(NotnetsCommandTest, TextAndTopShowTheService) {
  Call("Echo", 3, StatusCode::OK);
  ASSERT_NO_FATAL_FAILURE(AwaitFinishedCalls(3));
  int exit_code;
  std::string text = RunShell(Command("stats"), &exit_code);
  ASSERT_EQ(exit_code, 0) << text;
  EXPECT_NE(text.find("calls        started 3, finished 3"), std::string::npos) << text;
  std::string top = RunShell(Command("top --iterations 1 --interval 0.05"), &exit_code);
  ASSERT_EQ(exit_code, 0) << top;
  EXPECT_NE(top.find(std::string("\n") + kService + " "), std::string::npos) << top;
  // Under it, the fixture's channel's connection, with this process as its client.
  size_t row = top.find("\n  connection ");
  ASSERT_NE(row, std::string::npos) << top;
  std::string line = top.substr(row + 1, top.find('\n', row + 1) - row - 1);
  EXPECT_NE(line.find(" client "), std::string::npos) << line;
  EXPECT_NE(line.find(" " + std::to_string(::getpid()) + " "), std::string::npos) << line;
}

TEST(NotnetsCommand, PoolCreateSetsTheModeAskedFor) {
  std::string pool = testing::UniquePoolName("mode");
  int exit_code;
  std::string out =
      RunShell(std::string(NOTNETS_COMMAND) + " pool create " + pool + " --size 4m --mode 660 2>&1",
               &exit_code);
  ASSERT_EQ(exit_code, 0) << out;
  std::shared_ptr<Pool> attached;
  ASSERT_TRUE(Pool::Attach(pool, &attached).ok());
  struct stat file {};
  ASSERT_EQ(::stat(attached->path().c_str(), &file), 0);
  EXPECT_EQ(file.st_mode & 07777, 0660u);
  attached.reset();
  Pool::Remove(pool);
  for (const char* mode : {"888", "1777", "u+rw"}) {
    RunShell(std::string(NOTNETS_COMMAND) + " pool create " + pool + " --mode '" + mode +
                 "' 2>/dev/null",
             &exit_code);
    EXPECT_NE(exit_code, 0) << mode;
  }
  EXPECT_EQ(Pool::Attach(pool, &attached).error_code(), StatusCode::NOT_FOUND);
}

TEST(NotnetsCommand, ReadingAPoolThatDoesNotExistFails) {
  int exit_code;
  std::string pool = testing::UniquePoolName("absent");
  for (const char* command : {"ls", "stats --format=json", "top --iterations 1"}) {
    RunShell(std::string(NOTNETS_COMMAND) + " " + command + " --pool " + pool + " 2>/dev/null",
             &exit_code);
    EXPECT_EQ(exit_code, 1) << command;
  }
  RunShell(std::string(NOTNETS_COMMAND) + " stats --format=yaml 2>/dev/null", &exit_code);
  EXPECT_EQ(exit_code, 2);
}

// Seconds past an hour, or not a number at all, are refused before anything runs: converted to
// a clock's ticks, 1e300 seconds would overflow. So are frames that do not fit top's 32-bit count.
// `ping` exists only with the gRPC integration.
TEST(NotnetsCommand, SecondsOutOfRangeAreRefused) {
  int exit_code;
  // Listed in the help when built (`ping --help` succeeds either way: it prints the main help).
  std::string help = RunShell(std::string(NOTNETS_COMMAND) + " --help 2>&1", &exit_code);
  bool has_ping = help.find("\n  ping ") != std::string::npos;
  std::vector<std::string> commands = {"top -n 1 -i 1e300"};
  for (const char* seconds : {"1e300", "3600.5", "0", "-1", "nan", "inf", "x"}) {
    commands.push_back("top -n 1 --interval=" + std::string(seconds));
    if (has_ping) commands.push_back("ping '' --timeout=" + std::string(seconds));
  }
  for (const std::string& command : commands) {
    std::string out =
        RunShell(std::string(NOTNETS_COMMAND) + " " + command + " --pool notnets-absent-pool 2>&1",
                 &exit_code);
    EXPECT_EQ(exit_code, 2) << command << ": " << out;
    EXPECT_NE(out.find("is not a number of seconds in (0, 3600]"), std::string::npos)
        << command << ": " << out;
  }
  for (const char* frames : {"-1", "4294967296", "1e300"}) {
    std::string out = RunShell(
        std::string(NOTNETS_COMMAND) + " top -n " + frames + " --pool notnets-absent-pool 2>&1",
        &exit_code);
    EXPECT_EQ(exit_code, 2) << frames << ": " << out;
  }
}

}  // namespace
}  // namespace notnets
