#include "job.h"

#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <sstream>

namespace notnets::bench {
namespace {

constexpr const char* kModeNames[] = {"latency", "pipeline", "idle",
                                      "hold",    "timed",    "outstanding"};

std::string Number(double value) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.17g", value);
  return text;
}

Status Bad(const std::string& what) {
  return Status(StatusCode::INVALID_ARGUMENT, "bad client job: " + what);
}

// The Measurement fields, in the order of the "summary" line.
std::vector<double*> SummaryFields(Measurement* m) {
  LatencySummary& l = m->latency;
  return {&l.avg_us,
          &l.p50_us,
          &l.p99_us,
          &l.p999_us,
          &l.max_us,
          &l.calls_per_s,
          &l.calls,
          &l.wall_seconds,
          &m->client_cpu_us_per_call,
          &m->server_cpu_us_per_call};
}

}  // namespace

std::vector<std::string> Job::ToWords() const {
  std::vector<std::string> words = {"mode=" + std::string(kModeNames[static_cast<int>(mode)]),
                                    "case=" + case_name,
                                    "endpoint=" + endpoint,
                                    "server_pid=" + std::to_string(server_pid),
                                    "payload=" + std::to_string(payload_size),
                                    "threads=" + std::to_string(threads),
                                    "depth=" + std::to_string(depth),
                                    "calls=" + std::to_string(calls),
                                    "warmup=" + std::to_string(warmup),
                                    "min_seconds=" + Number(min_seconds),
                                    "max_seconds=" + Number(max_seconds),
                                    "connections=" + std::to_string(connections),
                                    "idle_seconds=" + Number(idle_seconds),
                                    "cdf=" + std::to_string(cdf ? 1 : 0),
                                    "connects=" + std::to_string(connects),
                                    "start_file=" + start_file,
                                    "start_ns=" + std::to_string(start_ns),
                                    "stop_ns=" + std::to_string(stop_ns)};
  for (int64_t split : splits_ns) words.push_back("split_ns=" + std::to_string(split));
  words.push_back("--");
  words.insert(words.end(), server_args.begin(), server_args.end());
  return words;
}

Status Job::FromWords(const std::vector<std::string>& words, Job* job) {
  size_t i = 0;
  for (; i < words.size() && words[i] != "--"; ++i) {
    const std::string& word = words[i];
    size_t equals = word.find('=');
    if (equals == std::string::npos) return Bad(word);
    std::string key = word.substr(0, equals);
    std::string value = word.substr(equals + 1);
    unsigned long long count = std::strtoull(value.c_str(), nullptr, 10);
    if (key == "mode") {
      bool known = false;
      for (int m = 0; m < static_cast<int>(std::size(kModeNames)); ++m) {
        if (value == kModeNames[m]) {
          job->mode = static_cast<JobMode>(m);
          known = true;
        }
      }
      if (!known) return Bad(word);
    } else if (key == "case") {
      job->case_name = value;
    } else if (key == "endpoint") {
      job->endpoint = value;
    } else if (key == "server_pid") {
      job->server_pid = static_cast<pid_t>(std::atoi(value.c_str()));
    } else if (key == "payload") {
      job->payload_size = count;
    } else if (key == "threads") {
      job->threads = static_cast<uint32_t>(count);
    } else if (key == "depth") {
      job->depth = static_cast<uint32_t>(count);
    } else if (key == "calls") {
      job->calls = count;
    } else if (key == "warmup") {
      job->warmup = count;
    } else if (key == "min_seconds") {
      job->min_seconds = std::strtod(value.c_str(), nullptr);
    } else if (key == "max_seconds") {
      job->max_seconds = std::strtod(value.c_str(), nullptr);
    } else if (key == "connections") {
      job->connections = static_cast<uint32_t>(count);
    } else if (key == "idle_seconds") {
      job->idle_seconds = std::strtod(value.c_str(), nullptr);
    } else if (key == "cdf") {
      job->cdf = count != 0;
    } else if (key == "connects") {
      job->connects = static_cast<uint32_t>(count);
    } else if (key == "start_file") {
      job->start_file = value;
    } else if (key == "start_ns") {
      job->start_ns = std::strtoll(value.c_str(), nullptr, 10);
    } else if (key == "stop_ns") {
      job->stop_ns = std::strtoll(value.c_str(), nullptr, 10);
    } else if (key == "split_ns") {
      job->splits_ns.push_back(std::strtoll(value.c_str(), nullptr, 10));
    } else {
      return Bad(word);
    }
  }
  if (i == words.size()) return Bad("no '--' before the server's arguments");
  job->server_args.assign(words.begin() + static_cast<std::ptrdiff_t>(i) + 1, words.end());
  if (job->threads == 0 || job->depth == 0) return Bad("threads and depth must be positive");
  return Status::OK;
}

// Lines are built by appending: "literal" + std::string trips GCC 12's -Wrestrict.
std::vector<std::string> JobResult::ToLines() const {
  std::vector<std::string> lines;
  std::string summary = "summary";
  Measurement copy = measurement;
  for (double* field : SummaryFields(&copy)) {
    summary += ' ';
    summary += Number(*field);
  }
  lines.push_back(summary);
  for (const CdfPoint& point : cdf) {
    std::string line = "cdf ";
    line += Number(point.percentile);
    line += ' ';
    line += Number(point.latency_us);
    lines.push_back(line);
  }
  for (const Metric& metric : metrics) {
    std::string line = "metric ";
    line += metric.name;
    line += ' ';
    line += Number(metric.value);
    lines.push_back(line);
  }
  return lines;
}

Status JobResult::FromLines(const std::vector<std::string>& lines, JobResult* result) {
  bool summarized = false;
  for (const std::string& line : lines) {
    std::istringstream words(line);
    std::string kind;
    words >> kind;
    if (kind == "summary") {
      for (double* field : SummaryFields(&result->measurement)) {
        if (!(words >> *field)) return Bad("summary line: " + line);
      }
      summarized = true;
    } else if (kind == "cdf") {
      CdfPoint point{};
      if (!(words >> point.percentile >> point.latency_us)) return Bad("cdf line: " + line);
      result->cdf.push_back(point);
    } else if (kind == "metric") {
      Metric metric{};
      if (!(words >> metric.name >> metric.value)) return Bad("metric line: " + line);
      result->metrics.push_back(metric);
    } else {
      return Bad("unexpected line from the client: " + line);
    }
  }
  if (!summarized) return Bad("the client reported no summary");
  return Status::OK;
}

}  // namespace notnets::bench
