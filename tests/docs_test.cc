// The documents against the code: what docs/ promises about error messages, crash points and
// limits must be what src/ does, so that neither can change without the other.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pool/directory.h"

namespace notnets::internal {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Doc(const std::string& name) {
  return ReadFile(fs::path(NOTNETS_SOURCE_DIR) / "docs" / name);
}

// The sources under src/, .cc and .h.
std::vector<fs::path> Sources() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(NOTNETS_SOURCE_DIR) / "src")) {
    std::string extension = entry.path().extension().string();
    if (extension == ".cc" || extension == ".h") files.push_back(entry.path());
  }
  return files;
}

// The library's sources whose messages docs/errors.md lists: everything under src/ but the gRPC
// integration, whose statuses reach users as gRPC's (docs/grpc.md).
std::vector<fs::path> LibrarySources() {
  std::vector<fs::path> files;
  fs::path src = fs::path(NOTNETS_SOURCE_DIR) / "src";
  for (const fs::path& file : Sources()) {
    if (*fs::relative(file, src).begin() != "grpc") files.push_back(file);
  }
  return files;
}

// ---- A message as a pattern: literal text, and holes that stand for any text.

// A hole in a pattern.
constexpr char kHole = '\x01';

// True if some text matches both patterns (a hole in either may stand for anything, including a
// stretch of the other pattern with holes in it).
bool Overlap(const std::string& a, const std::string& b) {
  // reach[i][j]: a[i..] and b[j..] can still match.
  std::vector<std::vector<char>> reach(a.size() + 1, std::vector<char>(b.size() + 1, 0));
  reach[a.size()][b.size()] = 1;
  for (size_t i = a.size() + 1; i-- > 0;) {
    for (size_t j = b.size() + 1; j-- > 0;) {
      if (i == a.size() && j == b.size()) continue;
      bool ok = false;
      if (i < a.size() && a[i] == kHole) ok = reach[i + 1][j] || (j < b.size() && reach[i][j + 1]);
      if (!ok && j < b.size() && b[j] == kHole) {
        ok = reach[i][j + 1] || (i < a.size() && reach[i + 1][j]);
      }
      if (!ok && i < a.size() && j < b.size() && a[i] != kHole && b[j] != kHole) {
        ok = a[i] == b[j] && reach[i + 1][j + 1];
      }
      reach[i][j] = ok;
    }
  }
  return reach[0][0];
}

std::string Printable(std::string pattern) {
  std::string out;
  for (char c : pattern) out += c == kHole ? std::string("<*>") : std::string(1, c);
  return out;
}

bool HasWords(const std::string& pattern) {
  return std::regex_search(pattern, std::regex("[A-Za-z]{2}"));
}

// ---- Messages built in src/.

// A message the code builds: its pattern, its code (empty when not a StatusCode constant), and
// where.
struct BuiltMessage {
  std::string pattern;
  std::string code;
  std::string where;
};

// `source` with comments blanked out (string and character literals kept).
std::string WithoutComments(const std::string& source) {
  std::string out = source;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '"' || out[i] == '\'') {
      char quote = out[i];
      for (++i; i < out.size() && out[i] != quote; ++i) {
        if (out[i] == '\\') ++i;
      }
    } else if (out.compare(i, 2, "//") == 0) {
      for (; i < out.size() && out[i] != '\n'; ++i) out[i] = ' ';
    } else if (out.compare(i, 2, "/*") == 0) {
      size_t end = out.find("*/", i);
      end = end == std::string::npos ? out.size() : end + 2;
      for (; i < end; ++i) {
        if (out[i] != '\n') out[i] = ' ';
      }
      --i;
    }
  }
  return out;
}

// The end of the string literal that starts at `begin` (one past its closing quote).
size_t SkipLiteral(const std::string& text, size_t begin) {
  char quote = text[begin];
  size_t i = begin + 1;
  for (; i < text.size() && text[i] != quote; ++i) {
    if (text[i] == '\\') ++i;
  }
  return i + 1;
}

// The arguments of the call whose '(' is at `open`, split at top-level commas; empty if the
// parentheses do not balance.
std::vector<std::string> CallArguments(const std::string& text, size_t open) {
  std::vector<std::string> arguments(1);
  int depth = 0;
  for (size_t i = open; i < text.size();) {
    char c = text[i];
    if (c == '"' || c == '\'') {
      size_t end = SkipLiteral(text, i);
      arguments.back() += text.substr(i, end - i);
      i = end;
      continue;
    }
    if (c == '(' || c == '[' || c == '{') {
      if (depth++ > 0) arguments.back() += c;
    } else if (c == ')' || c == ']' || c == '}') {
      if (--depth == 0) return arguments;
      arguments.back() += c;
    } else if (c == ',' && depth == 1) {
      arguments.emplace_back();
    } else {
      arguments.back() += c;
    }
    ++i;
  }
  return {};
}

std::string Trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\n");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t\n") - begin + 1);
}

// The value of a run of adjacent string literals ("a" "b"), or false if `term` is anything else
// (std::string("...") counts as its literal).
bool LiteralValue(std::string term, std::string* value) {
  term = Trim(term);
  std::smatch wrapped;
  if (std::regex_match(term, wrapped, std::regex(R"(std::string\(([\s\S]*)\))"))) {
    term = Trim(wrapped[1]);
  }
  value->clear();
  size_t i = 0;
  while (i < term.size()) {
    if (term[i] != '"') return false;
    size_t end = SkipLiteral(term, i);
    for (size_t k = i + 1; k + 1 < end; ++k) {
      if (term[k] == '\\' && k + 2 < end) {
        char escaped = term[++k];
        *value += escaped == 'n' ? '\n' : escaped == 't' ? '\t' : escaped;
      } else {
        *value += term[k];
      }
    }
    i = end;
    while (i < term.size() && std::isspace(static_cast<unsigned char>(term[i]))) ++i;
  }
  return !term.empty();
}

// The pattern of a message expression: its string literals, with a hole for every other term of
// the concatenation.
std::string MessagePattern(const std::string& expression) {
  std::vector<std::string> terms(1);
  int depth = 0;
  for (size_t i = 0; i < expression.size();) {
    char c = expression[i];
    if (c == '"' || c == '\'') {
      size_t end = SkipLiteral(expression, i);
      terms.back() += expression.substr(i, end - i);
      i = end;
      continue;
    }
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == '+' && depth == 0) {
      terms.emplace_back();
    } else {
      terms.back() += c;
    }
    ++i;
  }
  std::string pattern;
  for (const std::string& term : terms) {
    std::string value;
    if (LiteralValue(term, &value)) {
      pattern += value;
    } else if (pattern.empty() || pattern.back() != kHole) {
      pattern += kHole;
    }
  }
  return pattern;
}

// Every Status the library builds with literal text in its message: `Status(code, message)`,
// and helpers named `...Status(code, message, ...)` whose message the helper may go on after.
std::vector<BuiltMessage> BuiltMessages() {
  std::vector<BuiltMessage> messages;
  std::regex call(R"(\b(\w*Status)\()");
  for (const fs::path& file : LibrarySources()) {
    std::string text = WithoutComments(ReadFile(file));
    for (auto it = std::sregex_iterator(text.begin(), text.end(), call);
         it != std::sregex_iterator(); ++it) {
      size_t open = it->position(0) + it->length(0) - 1;
      std::vector<std::string> arguments = CallArguments(text, open);
      if (arguments.size() < 2) continue;
      BuiltMessage message;
      message.pattern = MessagePattern(arguments[1]);
      if (!HasWords(message.pattern)) continue;
      bool helper = (*it)[1] != "Status";
      if (helper && message.pattern.back() != kHole) message.pattern += kHole;
      std::smatch code;
      std::string first = Trim(arguments[0]);
      if (std::regex_match(first, code, std::regex(R"((?:\w+::)*StatusCode::(\w+))"))) {
        message.code = code[1];
      }
      size_t line = std::count(text.begin(), text.begin() + open, '\n') + 1;
      message.where = file.filename().string() + ":" + std::to_string(line);
      messages.push_back(message);
    }
  }
  return messages;
}

// ---- Messages listed in docs/errors.md.

struct ListedMessage {
  std::string pattern;
  std::string code;  // empty when the row gives no single code
  std::string text;
  bool grpc;  // listed under a gRPC heading: a grpc::Status built in src/grpc
};

// The pattern of a message as the document writes it: `<name>` and `...` are holes.
std::string ListedPattern(const std::string& text) {
  std::string pattern;
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '<') {
      size_t end = text.find('>', i);
      if (end != std::string::npos) {
        pattern += kHole;
        i = end + 1;
        continue;
      }
    }
    if (text.compare(i, 3, "...") == 0) {
      pattern += kHole;
      i += 3;
      continue;
    }
    pattern += text[i++];
  }
  return pattern;
}

// Every message in the tables of docs/errors.md: the spans in backquotes of the Message column.
std::vector<ListedMessage> ListedMessages() {
  std::vector<ListedMessage> messages;
  std::istringstream lines(Doc("errors.md"));
  std::string line;
  int message_column = -1;
  bool grpc = false;
  while (std::getline(lines, line)) {
    if (line.rfind("#", 0) == 0) grpc = line.find("gRPC") != std::string::npos;
    if (line.empty() || line[0] != '|') {
      message_column = -1;
      continue;
    }
    std::vector<std::string> cells;
    std::stringstream row(line.substr(1));
    for (std::string cell; std::getline(row, cell, '|');) cells.push_back(Trim(cell));
    if (message_column < 0) {
      for (size_t i = 0; i < cells.size(); ++i) {
        if (cells[i] == "Message") message_column = static_cast<int>(i);
      }
      continue;
    }
    if (message_column >= static_cast<int>(cells.size())) continue;
    std::smatch code;
    std::string code_name;
    if (std::regex_match(cells[0], code, std::regex("`([A-Z_]+)`"))) code_name = code[1];
    const std::string& cell = cells[message_column];
    std::regex span("`([^`]+)`");
    for (auto it = std::sregex_iterator(cell.begin(), cell.end(), span);
         it != std::sregex_iterator(); ++it) {
      std::string text = (*it)[1];
      std::string pattern = ListedPattern(text);
      if (HasWords(pattern)) messages.push_back({pattern, code_name, text, grpc});
    }
  }
  return messages;
}

TEST(DocsTest, ErrorsDocListsEveryMessageTheLibraryBuilds) {
  std::vector<ListedMessage> listed = ListedMessages();
  std::vector<BuiltMessage> built = BuiltMessages();
  ASSERT_GT(listed.size(), 50u) << "docs/errors.md was not read";
  ASSERT_GT(built.size(), 50u) << "src/ was not read";
  for (const BuiltMessage& message : built) {
    bool found = false;
    for (const ListedMessage& row : listed) {
      if (row.grpc) continue;
      found |= Overlap(message.pattern, row.pattern) &&
               (message.code.empty() || row.code.empty() || message.code == row.code);
    }
    EXPECT_TRUE(found) << message.where << ": " << message.code << " \""
                       << Printable(message.pattern) << "\" is not in docs/errors.md";
  }
}

TEST(DocsTest, EveryMessageInErrorsDocIsBuiltByTheLibrary) {
  std::vector<BuiltMessage> built = BuiltMessages();
  for (const ListedMessage& row : ListedMessages()) {
    if (row.grpc) continue;
    bool found = false;
    for (const BuiltMessage& message : built) {
      found |= Overlap(message.pattern, row.pattern) &&
               (message.code.empty() || row.code.empty() || message.code == row.code);
    }
    EXPECT_TRUE(found) << "docs/errors.md lists " << row.code << " `" << row.text
                       << "`, which no Status in src/ builds";
  }
}

// The gRPC integration builds grpc::Status messages from pieces; each literal piece of a message
// listed under a gRPC heading must occur in src/grpc.
TEST(DocsTest, EveryGrpcMessageInErrorsDocIsInTheGrpcIntegration) {
  std::string grpc_sources;
  fs::path grpc = fs::path(NOTNETS_SOURCE_DIR) / "src" / "grpc";
  for (const fs::path& file : Sources()) {
    if (*fs::relative(file, grpc).begin() != "..") grpc_sources += ReadFile(file);
  }
  // Adjacent string literals on consecutive lines are one literal.
  grpc_sources = std::regex_replace(grpc_sources, std::regex("\"\\s*\n\\s*\""), "");
  int rows = 0;
  for (const ListedMessage& row : ListedMessages()) {
    if (!row.grpc) continue;
    ++rows;
    std::stringstream pieces(row.pattern);
    for (std::string piece; std::getline(pieces, piece, kHole);) {
      if (!HasWords(piece)) continue;
      EXPECT_NE(grpc_sources.find(piece), std::string::npos)
          << "docs/errors.md lists `" << row.text << "`, but src/grpc has no \"" << piece << "\"";
    }
  }
  EXPECT_GT(rows, 0) << "docs/errors.md has no gRPC section";
}

// The matcher itself: holes on either side, and what must not match.
TEST(DocsTest, PatternsOverlapOnlyWhereTheirTextAgrees) {
  std::string h(1, kHole);
  EXPECT_TRUE(Overlap("pool " + h + " is full", "pool " + h + " is full"));
  EXPECT_TRUE(Overlap("pool " + h + " is full", "pool /dev/shm/x is full"));
  EXPECT_TRUE(Overlap("pool " + h + " (" + h + "); remove it", "pool " + h + " (size); " + h));
  EXPECT_FALSE(Overlap("pool " + h + " is full", "pool " + h + " is empty"));
  EXPECT_FALSE(Overlap("must be 1 to 176 bytes", "must be 1 to 184 bytes"));
  EXPECT_FALSE(Overlap("the call was cancelled", "the call was cancelled before it started"));
  EXPECT_EQ(MessagePattern(R"x("a '" + name + "' b" "c")x"), "a '" + h + "' bc");
  EXPECT_EQ(MessagePattern(R"x(std::string("x (") + what + ")")x"), "x (" + h + ")");
}

// ---- Crash points.

std::set<std::string> CrashPointsInSources() {
  std::set<std::string> names;
  std::regex point(R"re(CrashPoint\("([^"]+)"\))re");
  for (const fs::path& file : Sources()) {
    std::string text = WithoutComments(ReadFile(file));
    for (auto it = std::sregex_iterator(text.begin(), text.end(), point);
         it != std::sregex_iterator(); ++it) {
      names.insert((*it)[1]);
    }
  }
  return names;
}

TEST(DocsTest, CrashMatrixNamesEveryCrashPoint) {
  std::set<std::string> in_sources = CrashPointsInSources();
  ASSERT_FALSE(in_sources.empty()) << "src/ was not read";
  std::string matrix = Doc("crash-matrix.md");
  std::set<std::string> in_matrix;
  std::regex point(R"(`((?:client|server|allocator)\.[a-z_]+)`)");
  for (auto it = std::sregex_iterator(matrix.begin(), matrix.end(), point);
       it != std::sregex_iterator(); ++it) {
    in_matrix.insert((*it)[1]);
  }
  for (const std::string& name : in_sources) {
    EXPECT_TRUE(in_matrix.count(name)) << "crash point " << name << " is not in crash-matrix.md";
  }
  for (const std::string& name : in_matrix) {
    EXPECT_TRUE(in_sources.count(name))
        << "crash-matrix.md names " << name << ", which no CrashPoint in src/ has";
  }
}

// ---- Limits.

TEST(DocsTest, ServiceNameLimitIsTheCodesLimit) {
  // "service name ... 1 to N bytes", "1..N", "1 .. N": on lines about the service name.
  std::regex range(R"(\b1 ?(?:\.\.|to) ?(\d+))");
  for (const char* name : {"errors.md", "protocol.md", "memory-layout.md"}) {
    std::istringstream lines(Doc(name));
    int found = 0;
    for (std::string line; std::getline(lines, line);) {
      std::string lower = line;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.find("service name") == std::string::npos &&
          lower.find("name_length") == std::string::npos) {
        continue;
      }
      for (auto it = std::sregex_iterator(line.begin(), line.end(), range);
           it != std::sregex_iterator(); ++it) {
        ++found;
        EXPECT_EQ(std::stoul((*it)[1]), kMaxServiceNameBytes) << name << ": " << line;
      }
    }
    EXPECT_GT(found, 0) << name << " no longer gives the service-name limit";
  }
}

}  // namespace
}  // namespace notnets::internal
