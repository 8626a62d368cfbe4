// notnets-bench: compares an echo call over notnets with the same call over gRPC, each case with
// client and server in separate processes. See Usage() for the subcommands.
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

namespace notnets::bench {
namespace {

void Usage() {
  std::string cases;
  for (const std::string& name : RegisteredCaseNames()) {
    if (!cases.empty()) cases += ',';
    cases += name;
  }
  std::fprintf(stderr,
               "usage:\n"
               "  notnets-bench echo [--calls N] [--warmup N] [--csv] [--cases a,b,...] "
               "[--pool NAME]\n"
               "      Latency of an echo call per case, server in a separate process.\n"
               "      Defaults: --calls 200000 --warmup 10000 --cases %s\n"
               "  notnets-bench idle [--seconds S] [--csv] [--pool NAME]\n"
               "      CPU use of an idle native server and latency of the calls after idling.\n"
               "      Default: --seconds 2 (must be more than 1)\n"
               "  --pool NAME: pool to create for the notnets cases and remove at the end\n"
               "      (default bench-<pid>; see notnets::Pool::PathFor).\n",
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

bool ParseCount(std::optional<std::string_view> text, uint64_t* value) {
  if (!text) return false;
  auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), *value);
  return error == std::errc() && end == text->data() + text->size();
}

bool ParseSeconds(std::optional<std::string_view> text, double* value) {
  if (!text) return false;
  std::string copy(*text);
  char* end = nullptr;
  *value = std::strtod(copy.c_str(), &end);
  return !copy.empty() && *end == '\0';
}

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
  if (flags->flag() == "--pool") {
    auto value = flags->Value();
    if (!value || value->empty()) return false;
    options->pool_name = *value;
    return true;
  }
  return false;
}

bool ParseEcho(FlagReader* flags, EchoOptions* options) {
  options->cases = RegisteredCaseNames();
  while (flags->Next()) {
    bool valid = true;
    if (flags->flag() == "--calls") {
      valid = ParseCount(flags->Value(), &options->calls) && options->calls > 0;
    } else if (flags->flag() == "--warmup") {
      valid = ParseCount(flags->Value(), &options->warmup);
    } else if (flags->flag() == "--cases") {
      auto value = flags->Value();
      options->cases = SplitCommas(value.value_or(""));
      valid = !options->cases.empty();
      for (const std::string& name : options->cases) {
        if (MakeCase(name) == nullptr) {
          std::fprintf(stderr, "notnets-bench: there is no case named %s\n", name.c_str());
          valid = false;
        }
      }
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

bool ParseIdle(FlagReader* flags, IdleOptions* options) {
  while (flags->Next()) {
    bool valid = true;
    if (flags->flag() == "--seconds") {
      valid = ParseSeconds(flags->Value(), &options->seconds) && options->seconds > 1;
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

int Main(int argc, char** argv) {
  std::vector<std::string_view> words(argv + 1, argv + argc);
  if (words.empty()) {
    Usage();
    return 2;
  }
  std::string_view command = words.front();
  words.erase(words.begin());
  if (command == "serve") return ServeMain(std::vector<std::string>(words.begin(), words.end()));

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
