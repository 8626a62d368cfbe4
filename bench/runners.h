// The work of a client process, one function per JobMode (see job.h). Each connects its clients
// through the case, runs, and fills `result`; the process's CPU time and the server's are read
// around the timed phase.
#ifndef NOTNETS_BENCH_RUNNERS_H_
#define NOTNETS_BENCH_RUNNERS_H_

#include <chrono>
#include <string>

#include "case.h"
#include "job.h"
#include "process.h"

namespace notnets::bench {

// How long a client may go without completing a call before the benchmark gives up on it.
inline constexpr std::chrono::seconds kHangTimeout(10);

// JobMode::kLatency: calls one at a time from job.threads threads.
Status RunLatencyJob(Case* bench_case, const Job& job, JobResult* result);

// JobMode::kPipeline: job.depth asynchronous calls outstanding from one thread's client.
Status RunPipelineJob(Case* bench_case, const Job& job, JobResult* result);

// JobMode::kIdle: idle CPU use and the first calls after idleness.
Status RunIdleJob(Case* bench_case, const Job& job, JobResult* result);

// JobMode::kHold: opens job.connections clients, calls each once, announces ready through
// `parent`, and holds them until the stop signal.
Status RunHoldJob(Case* bench_case, const Job& job, ParentPipe* parent);

// JobMode::kTimed: one client connects and warms up, announces ready through `parent`, and
// calls from job.start_ns to job.stop_ns after the start in job.start_file; its latencies go to
// `result`'s metrics as one histogram per window (TimedWindowPrefix), split at job.splits_ns.
Status RunTimedJob(Case* bench_case, const Job& job, ParentPipe* parent, JobResult* result);

// JobMode::kOutstanding: connects to the notnets-native server in job.server_args' pool, makes
// job.depth calls it holds, announces ready through `parent`, and once every call has failed
// sends, for each, the milliseconds from the kill time in job.start_file to its failure (metrics
// kFailedAfterMetric). A call that ends otherwise than UNAVAILABLE is an error.
Status RunOutstandingJob(const Job& job, ParentPipe* parent, JobResult* result);

// The name of each of a kOutstanding job's metrics.
inline constexpr char kFailedAfterMetric[] = "failed_after_ms";

// The prefix of the metrics of window `index` of a kTimed job's histograms.
std::string TimedWindowPrefix(size_t index);

// The main function of "notnets-bench client <fd> <job words...>". Returns the exit status.
int ClientMain(const std::vector<std::string>& args);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_RUNNERS_H_
