// What a client process is asked to do, and what it reports back. The parent passes a Job as
// words on the client's command line and reads a JobResult from the client's pipe, one line per
// item, so both sides share these (de)serializers.
#ifndef NOTNETS_BENCH_JOB_H_
#define NOTNETS_BENCH_JOB_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "notnets/status.h"
#include "stats.h"

namespace notnets::bench {

// The kinds of work a client process does.
enum class JobMode {
  // `threads` threads, each with its own client, make `calls` calls each, one at a time.
  kLatency,
  // One client keeps `depth` asynchronous calls outstanding until `calls` have completed.
  kPipeline,
  // One client calls, idles 1 s, calls, idles `idle_seconds`, calls (see idle_runner.cc).
  kIdle,
  // Opens `connections` clients, calls each once, reports ready and holds them until stopped.
  kHold,
  // One client connects, warms up, reports ready, and calls one at a time from `start_ns` to
  // `stop_ns` after the common start found in `start_file` (see timed_runner.cc), so that the
  // phases of several client processes line up.
  kTimed,
  // One notnets-native client makes `depth` calls that the server holds, reports ready, and
  // reports how long after the time the parent writes to `start_file` (when it killed the
  // server) each failed (see outstanding_runner.cc).
  kOutstanding,
};

// One client process's work against one running server.
struct Job {
  JobMode mode = JobMode::kLatency;
  std::string case_name;
  // From the case's Setup, and from its server's ready line.
  std::vector<std::string> server_args;
  std::string endpoint;
  // The server process, whose CPU time the client reads over the timed phase.
  pid_t server_pid = -1;
  size_t payload_size = 11;
  uint32_t threads = 1;
  uint32_t depth = 1;
  // Timed calls per thread (kLatency) or in all (kPipeline), after `warmup` untimed ones.
  uint64_t calls = 10000;
  uint64_t warmup = 1000;
  // The timed phase goes on past `calls` until it has lasted `min_seconds`: the server's CPU
  // clock, read from another process, moves in scheduler ticks (4 ms here), so a phase of 1 s
  // measures it within 0.4%.
  double min_seconds = 0;
  // The timed phase stops after this many seconds even if calls remain; 0 for no limit.
  double max_seconds = 0;
  uint32_t connections = 0;
  double idle_seconds = 10;
  // Latency quantiles to report for a CDF (kLatency); false for none.
  bool cdf = false;
  // kLatency: before its warm-up, the first thread connects this many clients one after another,
  // each closed after one call, and reports the time from Connect to that call's response
  // (metrics "connect_p50_us" and "connect_p99_us"); 0 for none.
  uint32_t connects = 0;
  // kTimed: the file the parent writes the common start to (start_file.h; a CLOCK_MONOTONIC time,
  // the same in every process of the machine), and the nanoseconds after it at which the timed
  // phase starts and stops and is split into windows, each reported on its own (RunTimedJob).
  std::string start_file;
  int64_t start_ns = 0;
  int64_t stop_ns = 0;
  std::vector<int64_t> splits_ns;

  // The words of the client's command line after its pipe fd.
  std::vector<std::string> ToWords() const;
  // Parses ToWords()'s output.
  static Status FromWords(const std::vector<std::string>& words, Job* job);
};

// A timed phase: latency, throughput and the CPU time both processes spent on it.
struct Measurement {
  LatencySummary latency;
  // CPU time (user + system) of the whole client process / server process over the timed
  // phase, divided by the calls completed in it.
  double client_cpu_us_per_call = 0;
  double server_cpu_us_per_call = 0;
};

// One point of a latency CDF.
struct CdfPoint {
  double percentile;  // 0..100
  double latency_us;
};

// A named measurement; the unit is part of the name ("first_call_us").
struct Metric {
  std::string name;
  double value;
};

// What a client process reports.
struct JobResult {
  Measurement measurement;
  std::vector<CdfPoint> cdf;
  std::vector<Metric> metrics;

  // The lines the client sends (no '\n').
  std::vector<std::string> ToLines() const;
  // Parses ToLines()'s output.
  static Status FromLines(const std::vector<std::string>& lines, JobResult* result);
};

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_JOB_H_
