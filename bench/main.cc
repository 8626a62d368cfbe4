// notnets-bench: compares an echo call over notnets with the same call over gRPC and other IPC,
// each case with client and server in separate processes. See Usage() for the subcommands.
#include <absl/synchronization/mutex.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "case.h"
#include "commands.h"
#include "emergency.h"
#include "process.h"
#include "runners.h"

namespace notnets::bench {
namespace {

// Prints every subcommand and its flags on stderr.
void Usage() {
  std::string cases;
  for (const std::string& name : RegisteredCaseNames()) {
    if (!cases.empty()) cases += ',';
    cases += name;
  }
  std::fprintf(
      stderr,
      "usage:\n"
      "  notnets-bench all [--calls N] [--warmup N] [--sweep-calls N] [--point-seconds S]\n"
      "                    [--idle-seconds S] [--long] [--out DIR] [--sections a,b,...]\n"
      "      Every case, every sweep and the idle cost, client and server always in separate\n"
      "      processes. Prints the tables, and writes them as CSV with PNG plots (gnuplot) to\n"
      "      DIR (default ./results/<timestamp>/). Sections, all by default:\n"
      "        main       every case: avg, p50, p99, p99.9, max, calls/s, CPU per call of\n"
      "                   client and server; latency CDFs\n"
      "        size       request size 16 B to 4 MiB: notnets copying, zero-copy, gRPC TCP\n"
      "        clients    1 to 64 client threads, each with its own connection, one server\n"
      "        pipeline   1 to 64 asynchronous calls outstanding from one client thread\n"
      "        idleconns  1 to 10,000 idle notnets connections while one is measured\n"
      "        idle       idle CPU of client and server, first calls after 1 s and after\n"
      "                   --idle-seconds of idleness\n"
      "        replicas   8 client processes against 1, 2 and 4 replica servers of one\n"
      "                   worker each (and one gRPC server): calls/s, scaling, CPU per call;\n"
      "                   one client's p50 through a single replica against a sole server;\n"
      "                   ms from a new replica's registration to its first call\n"
      "        workers-step  1 client process, then 8: servers with 4 workers fixed, 1 to 4\n"
      "                   scaling, and gRPC: when threads were added, p50/p99 before,\n"
      "                   during and after the step\n"
      "        server-kill  kill -9 of a server holding 4 calls, 5 times: ms until each call\n"
      "                   fails UNAVAILABLE, server in its own pid namespace (100 ms target)\n"
      "                   and on another emulated host (1.5x the lease period); root only\n"
      "                   for namespaces and hosts\n"
      "      Defaults: --calls 100000 --warmup 5000 --sweep-calls 50000 --point-seconds 2\n"
      "      --idle-seconds 10: about 5 minutes on 2 CPUs. A case's timed phase lasts 1 s to\n"
      "      15 s, a point's 0.5 s to --point-seconds, more calls being made to fill the least\n"
      "      time. --long: 500000 calls, 200000 per point, 10 s per point (about 25 minutes).\n"
      "      If any case fails or returns wrong data, the run says which, prints no\n"
      "      comparison, draws no plot and exits with status 1.\n"
      "  notnets-bench echo [--calls N] [--warmup N] [--connects N] [--csv] [--cases a,b,...]\n"
      "      Latency of an echo call per case, client and server in separate processes.\n"
      "      Before the warm-up, N clients connect, call once and close, one after another:\n"
      "      connect_p50_us and connect_p99_us time Connect to that first response (a table,\n"
      "      or a second CSV after a blank line).\n"
      "      gRPC: notnets-grpc-sync, -callback and -cq call unary Echo through the pool with\n"
      "      the sync, callback and completion-queue stubs; grpc-http2-tcp is the baseline.\n"
      "      In the *-stream cases a call is one message: notnets-grpc-stream and\n"
      "      grpc-http2-tcp-stream read server streams of 10,000 replies, the -stream-bidi\n"
      "      cases write and read one message at a time on a bidi stream; calls/s is then\n"
      "      messages/s. The gRPC targets compare each with HTTP/2 in the same run.\n"
      "      --cases grpc: just those and grpc-http2-tcp (names may follow: grpc,uds-pingpong).\n"
      "      Defaults: --calls 200000 --warmup 10000 --connects 100 --cases %s\n"
      "  notnets-bench idle [--seconds S] [--csv] [--cases a,b,...]\n"
      "      CPU use of an idle client and server, and latency of the calls after 1 s and\n"
      "      after S s of idleness. Defaults: --seconds 10 --cases notnets-native,grpc-http2-tcp\n"
      "  --pool NAME (any command): pool to create for the notnets cases and remove at the end\n"
      "      (default bench-<pid>; see notnets::Pool::PathFor).\n"
      "  --no-pin (any command): let the scheduler place client and server; by default the\n"
      "      client processes run on the first CPU this process may use and the server on the\n"
      "      second, so that they never share one (see docs/PERFORMANCE.md).\n",
      cases.c_str());
}

// Reads "--name value" or "--name=value" flags from a subcommand's words.
class FlagReader {
 public:
  explicit FlagReader(std::vector<std::string_view> words) : words_(std::move(words)) {}

  // True while there are words left; `flag()` is then the next flag's name.
  bool Next() {
    if (index_ >= words_.size()) return false;
    std::string_view word = words_[index_++];
    size_t equals = word.find('=');
    flag_ = word.substr(0, equals);
    inline_value_ =
        equals == std::string_view::npos ? std::nullopt : std::optional(word.substr(equals + 1));
    return true;
  }
  std::string_view flag() const { return flag_; }

  // The current flag's value, or nullopt if it has none.
  std::optional<std::string_view> Value() {
    if (inline_value_) return inline_value_;
    if (index_ >= words_.size()) return std::nullopt;
    return words_[index_++];
  }

 private:
  std::vector<std::string_view> words_;
  size_t index_ = 0;
  std::string_view flag_;
  std::optional<std::string_view> inline_value_;
};

// Reads a whole unsigned decimal number; false if there is none.
bool ParseCount(std::optional<std::string_view> text, uint64_t* value) {
  if (!text) return false;
  auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), *value);
  return error == std::errc() && end == text->data() + text->size();
}

// Reads a whole decimal number of seconds; false if there is none.
bool ParseSeconds(std::optional<std::string_view> text, double* value) {
  if (!text) return false;
  std::string copy(*text);
  char* end = nullptr;
  *value = std::strtod(copy.c_str(), &end);
  return !copy.empty() && *end == '\0';
}

// The non-empty parts of "a,b,c".
std::vector<std::string> SplitCommas(std::string_view text) {
  std::vector<std::string> parts;
  while (!text.empty()) {
    size_t comma = text.find(',');
    if (comma != 0) parts.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return parts;
}

// Reads a flag that every subcommand takes; returns false if the flag is unknown or its value bad.
bool ReadCommonFlag(FlagReader* flags, CommonOptions* options) {
  if (flags->flag() == "--csv") {
    options->csv = true;
    return true;
  }
  if (flags->flag() == "--no-pin") {
    options->pin = false;
    return true;
  }
  if (flags->flag() == "--pool") {
    auto value = flags->Value();
    if (!value || value->empty()) return false;
    options->pool_name = *value;
    return true;
  }
  return false;
}

// Reads a list of registered case names; "grpc" among them stands for kGrpcCases.
bool ParseCases(std::optional<std::string_view> text, std::vector<std::string>* cases) {
  cases->clear();
  for (const std::string& name : SplitCommas(text.value_or(""))) {
    if (name != "grpc") {
      cases->push_back(name);
      continue;
    }
    for (const std::string& grpc_case : kGrpcCases) {
      if (MakeCase(grpc_case) != nullptr) cases->push_back(grpc_case);
    }
  }
  bool valid = !cases->empty();
  for (const std::string& name : *cases) {
    if (MakeCase(name) == nullptr) {
      std::fprintf(stderr, "notnets-bench: there is no case named %s\n", name.c_str());
      valid = false;
    }
  }
  return valid;
}

// Reads the flags of "echo"; false (after printing the usage) on a bad one.
bool ParseEcho(FlagReader* flags, EchoOptions* options) {
  options->cases = RegisteredCaseNames();
  while (flags->Next()) {
    bool valid = true;
    if (flags->flag() == "--calls") {
      valid = ParseCount(flags->Value(), &options->calls) && options->calls > 0;
    } else if (flags->flag() == "--warmup") {
      valid = ParseCount(flags->Value(), &options->warmup);
    } else if (flags->flag() == "--connects") {
      uint64_t connects = 0;
      valid = ParseCount(flags->Value(), &connects) && connects <= 100000;
      options->connects = static_cast<uint32_t>(connects);
    } else if (flags->flag() == "--cases") {
      valid = ParseCases(flags->Value(), &options->cases);
    } else {
      valid = ReadCommonFlag(flags, &options->common);
    }
    if (!valid) {
      std::fprintf(stderr, "notnets-bench echo: bad flag or value: %s\n",
                   std::string(flags->flag()).c_str());
      Usage();
      return false;
    }
  }
  return true;
}

// Reads the flags of "idle"; false (after printing the usage) on a bad one.
bool ParseIdle(FlagReader* flags, IdleOptions* options) {
  while (flags->Next()) {
    bool valid = true;
    if (flags->flag() == "--seconds") {
      valid = ParseSeconds(flags->Value(), &options->seconds) && options->seconds > 0;
    } else if (flags->flag() == "--cases") {
      valid = ParseCases(flags->Value(), &options->cases);
    } else {
      valid = ReadCommonFlag(flags, &options->common);
    }
    if (!valid) {
      std::fprintf(stderr, "notnets-bench idle: bad flag or value: %s\n",
                   std::string(flags->flag()).c_str());
      Usage();
      return false;
    }
  }
  return true;
}

// Reads the flags of "all"; false (after printing the usage) on a bad one.
bool ParseAll(FlagReader* flags, AllOptions* options) {
  while (flags->Next()) {
    bool valid = true;
    std::string_view flag = flags->flag();
    if (flag == "--calls") {
      valid = ParseCount(flags->Value(), &options->calls) && options->calls > 0;
    } else if (flag == "--warmup") {
      valid = ParseCount(flags->Value(), &options->warmup);
    } else if (flag == "--sweep-calls") {
      valid = ParseCount(flags->Value(), &options->sweep_calls) && options->sweep_calls > 0;
    } else if (flag == "--point-seconds") {
      valid = ParseSeconds(flags->Value(), &options->point_seconds) && options->point_seconds > 0;
    } else if (flag == "--idle-seconds") {
      valid = ParseSeconds(flags->Value(), &options->idle_seconds) && options->idle_seconds > 0;
    } else if (flag == "--long") {
      options->calls = 500000;
      options->sweep_calls = 200000;
      options->point_seconds = 10;
      options->case_seconds = 90;
    } else if (flag == "--out") {
      auto value = flags->Value();
      valid = value && !value->empty();
      if (valid) options->out = *value;
    } else if (flag == "--sections") {
      options->sections = SplitCommas(flags->Value().value_or(""));
      valid = !options->sections.empty() && ValidAllSections(options->sections);
    } else {
      valid = ReadCommonFlag(flags, &options->common) && flag != "--csv";
    }
    if (!valid) {
      std::fprintf(stderr, "notnets-bench all: bad flag or value: %s\n", std::string(flag).c_str());
      Usage();
      return false;
    }
  }
  return true;
}

// Dispatches to the subcommand named by the first word.
int Main(int argc, char** argv) {
  // Debian builds Abseil with its debug default: deadlock detection on every absl::Mutex, which
  // gRPC uses throughout (a global lock and graph update per mutex destroyed). Release builds of
  // Abseil have it off; so does every process of the benchmark, the gRPC baselines included.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::vector<std::string_view> words(argv + 1, argv + argc);
  if (words.empty()) {
    Usage();
    return 2;
  }
  std::string_view command = words.front();
  words.erase(words.begin());
  std::vector<std::string> rest(words.begin(), words.end());
  if (command == "serve") return ServeMain(rest);
  if (command == "client") return ClientMain(rest);

  CommonOptions common;
  for (int i = 0; i < argc; ++i) {
    if (i > 0) common.command_line += ' ';
    common.command_line += argv[i];
  }
  common.pool_name = "bench-" + std::to_string(getpid());
  FlagReader flags(words);
  if (command == "echo") {
    EchoOptions options;
    options.common = common;
    if (!ParseEcho(&flags, &options)) return 2;
    InstallEmergencyHandlers();
    return RunEcho(options);
  }
  if (command == "all") {
    AllOptions options;
    options.common = common;
    if (!ParseAll(&flags, &options)) return 2;
    InstallEmergencyHandlers();
    return RunAll(options);
  }
  if (command == "idle") {
    IdleOptions options;
    options.common = common;
    if (!ParseIdle(&flags, &options)) return 2;
    InstallEmergencyHandlers();
    return RunIdle(options);
  }
  Usage();
  return 2;
}

}  // namespace
}  // namespace notnets::bench

int main(int argc, char** argv) { return notnets::bench::Main(argc, argv); }
