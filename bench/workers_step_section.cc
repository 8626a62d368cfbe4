// The load step: one client process calls alone for a second, then seven more join at once (they
// connected beforehand, and make no warm-up calls: the step is their first call). The parent
// counts the server process's threads every millisecond (/proc), which for the notnets servers
// changes only when a worker is added or retires, and splits the latencies into three windows:
// before the step, its first half second, and the rest.
#include "workers_step_section.h"

#include <algorithm>

#include "native_clients.h"

namespace notnets::bench {
namespace {

constexpr int kClientsAfter = 8;
constexpr int kMaxWorkers = 4;
constexpr double kStepAt = 1.0;
constexpr double kDuringSeconds = 0.5;
constexpr double kEndAt = 3.0;
constexpr const char* kWindowNames[] = {"before", "during", "after"};

// The servers' threads just before the step.
int ThreadsBeforeStep(const FleetResult& fleet) {
  int threads = 0;
  for (const ThreadSample& sample : fleet.threads) {
    if (sample.at > kStepAt) break;
    threads = sample.threads;
  }
  return threads;
}

// Milliseconds from the step to the first sample with more threads than before it; -1 if none.
double MsToFirstAdded(const FleetResult& fleet) {
  int before = ThreadsBeforeStep(fleet);
  for (const ThreadSample& sample : fleet.threads) {
    if (sample.at > kStepAt && sample.threads > before) return 1000 * (sample.at - kStepAt);
  }
  return -1;
}

// The most threads seen after the step, and milliseconds from the step to the first sample
// with that many (-1 if there were never more than before the step).
void PeakAfterStep(const FleetResult& fleet, int* peak, double* ms) {
  *peak = ThreadsBeforeStep(fleet);
  *ms = -1;
  for (const ThreadSample& sample : fleet.threads) {
    if (sample.at > kStepAt && sample.threads > *peak) {
      *peak = sample.threads;
      *ms = 1000 * (sample.at - kStepAt);
    }
  }
}

// Milliseconds with one decimal, or "none" for -1.
std::string Ms(double ms) {
  if (ms < 0) return "none";
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f", ms);
  return text;
}

void RunRow(StepRow row, std::vector<std::string> server_words, std::vector<StepRow>* rows,
            const AllOptions& options, Failures* failures) {
  std::fprintf(stderr, "notnets-bench: workers-step: %s, workers %s\n", row.case_name.c_str(),
               row.workers.c_str());
  FleetPlan plan;
  plan.case_name = row.case_name;
  plan.server_words = std::move(server_words);
  FleetClient first;
  first.stop = kEndAt;
  plan.clients.push_back(first);
  FleetClient joining;
  joining.start = kStepAt;
  joining.stop = kEndAt;
  joining.warmup = 0;
  plan.clients.insert(plan.clients.end(), kClientsAfter - 1, joining);
  plan.splits = {kStepAt, kStepAt + kDuringSeconds};
  plan.watch_threads = true;
  Status status = RunFleet(plan, MakeCaseOptions(options.common), &row.fleet);
  if (!status.ok()) {
    failures->Add("workers-step/" + row.case_name + "/" + row.workers, status);
    return;
  }
  rows->push_back(row);
}

// The server's thread counts around the step, as both reports print them.
struct StepThreads {
  int before = 0;
  double first_added_ms = 0;
  int peak = 0;
  double peak_ms = 0;
  int end = 0;
};

StepThreads SummarizeThreads(const FleetResult& fleet) {
  StepThreads t;
  t.before = ThreadsBeforeStep(fleet);
  t.first_added_ms = MsToFirstAdded(fleet);
  PeakAfterStep(fleet, &t.peak, &t.peak_ms);
  t.end = fleet.threads.empty() ? 0 : fleet.threads.back().threads;
  return t;
}

}  // namespace

std::vector<StepRow> RunWorkersStepSection(const AllOptions& options, Failures* failures) {
  std::vector<StepRow> rows;
  std::string fixed = "fixed " + std::to_string(kMaxWorkers);
  RunRow({"notnets-native", fixed, {}}, NativeWorkersWords(kMaxWorkers, kMaxWorkers), &rows,
         options, failures);
  RunRow({"notnets-native", "1.." + std::to_string(kMaxWorkers), {}},
         NativeWorkersWords(1, kMaxWorkers), &rows, options, failures);
  RunRow({kBaseline, "grpc", {}}, {}, &rows, options, failures);
  return rows;
}

void PrintWorkersStep(const std::vector<StepRow>& rows, FILE* out) {
  if (rows.empty()) return;
  std::fprintf(out,
               "\nworkers-step: 1 client process, then %d from %.1f s to %.1f s; server threads "
               "counted every ms (/proc); windows: before the step, its first %.1f s, after; "
               "every process unpinned\n",
               kClientsAfter, kStepAt, kEndAt, kDuringSeconds);
  std::fprintf(out, "%-16s %-8s %8s %12s %6s %8s %6s %-7s %12s %10s %10s\n", "case", "workers",
               "threads0", "first_add_ms", "peak", "peak_ms", "end", "window", "calls_per_s",
               "p50_us", "p99_us");
  for (const StepRow& row : rows) {
    const FleetResult& f = row.fleet;
    StepThreads t = SummarizeThreads(f);
    for (size_t w = 0; w < f.windows.size() && w < std::size(kWindowNames); ++w) {
      const FleetWindow& window = f.windows[w];
      if (w == 0) {
        std::fprintf(out, "%-16s %-8s %8d %12s %6d %8s %6d ", row.case_name.c_str(),
                     row.workers.c_str(), t.before, Ms(t.first_added_ms).c_str(), t.peak,
                     Ms(t.peak_ms).c_str(), t.end);
      } else {
        std::fprintf(out, "%-16s %-8s %8s %12s %6s %8s %6s ", "", "", "", "", "", "", "");
      }
      std::fprintf(out, "%-7s %12.0f %10.3f %10.3f\n", kWindowNames[w], window.calls_per_s,
                   window.p50_us, window.p99_us);
    }
  }
}

void PrintWorkersStepCsv(const std::vector<StepRow>& rows, FILE* out) {
  std::fprintf(out,
               "case,workers,threads_before,first_added_ms,peak_threads,peak_ms,threads_end,"
               "window,window_begin_s,window_end_s,calls,calls_per_s,p50_us,p99_us\n");
  for (const StepRow& row : rows) {
    const FleetResult& f = row.fleet;
    StepThreads t = SummarizeThreads(f);
    for (size_t w = 0; w < f.windows.size() && w < std::size(kWindowNames); ++w) {
      const FleetWindow& window = f.windows[w];
      std::fprintf(out, "%s,%s,%d,%.1f,%d,%.1f,%d,%s,%.3f,%.3f,%.0f,%.0f,%.3f,%.3f\n",
                   row.case_name.c_str(), row.workers.c_str(), t.before, t.first_added_ms, t.peak,
                   t.peak_ms, t.end, kWindowNames[w], window.begin, window.end, window.calls,
                   window.calls_per_s, window.p50_us, window.p99_us);
    }
  }
}

}  // namespace notnets::bench
