#include "sweep.h"

#include "report.h"
#include "session.h"

namespace notnets::bench {
namespace {

// Payload bytes per second each way, in MiB.
double MibPerSecond(const SweepRow& row) {
  return row.measurement.latency.calls_per_s * static_cast<double>(row.payload_size) /
         (1024.0 * 1024.0);
}

}  // namespace

void RunPoints(const AllOptions& options, const std::vector<std::string>& cases,
               const std::vector<double>& xs, Job (*make_job)(const AllOptions&, double x),
               Sweep* sweep, Failures* failures) {
  for (const std::string& name : cases) {
    std::fprintf(stderr, "notnets-bench: %s sweep: %s\n", sweep->name.c_str(), name.c_str());
    std::unique_ptr<CaseSession> session;
    Status status = CaseSession::Open(name, MakeCaseOptions(options.common), &session);
    if (!status.ok()) {
      failures->Add(sweep->name + "/" + name, status);
      continue;
    }
    for (double x : xs) {
      Job job = make_job(options, x);
      JobResult result;
      status = session->Run(job, &result);
      if (!status.ok()) {
        failures->Add(sweep->name + "/" + name + "/" + FormatNumber(x), status);
        break;
      }
      sweep->rows.push_back(SweepRow{name, x, job.payload_size, result.measurement});
    }
    status = session->Close();
    if (!status.ok()) failures->Add(sweep->name + "/" + name, status);
  }
}

void PrintSweep(const Sweep& sweep, FILE* out) {
  std::fprintf(out, "\n%s sweep\n", sweep.name.c_str());
  std::fprintf(out, "%-30s %14s %10s %10s %12s %10s %12s %12s\n", "case", sweep.x_name.c_str(),
               "p50_us", "p99_us", "calls_per_s", "MiB_per_s", "client_cpu_us", "server_cpu_us");
  for (const SweepRow& row : sweep.rows) {
    const Measurement& m = row.measurement;
    std::fprintf(out, "%-30s %14s %10.3f %10.3f %12.0f %10.1f %12.3f %12.3f\n",
                 row.case_name.c_str(), FormatNumber(row.x).c_str(), m.latency.p50_us,
                 m.latency.p99_us, m.latency.calls_per_s, MibPerSecond(row),
                 m.client_cpu_us_per_call, m.server_cpu_us_per_call);
  }
}

void PrintSweepCsv(const Sweep& sweep, FILE* out) {
  std::fprintf(out,
               "case,%s,avg_us,p50_us,p99_us,p999_us,calls_per_s,max_us,client_cpu_us_per_call,"
               "server_cpu_us_per_call,calls,payload_bytes,payload_mib_per_s\n",
               sweep.x_name.c_str());
  for (const SweepRow& row : sweep.rows) {
    const Measurement& m = row.measurement;
    const LatencySummary& l = m.latency;
    std::fprintf(out, "%s,%s,%.3f,%.3f,%.3f,%.3f,%.0f,%.3f,%.3f,%.3f,%.0f,%zu,%.3f\n",
                 row.case_name.c_str(), FormatNumber(row.x).c_str(), l.avg_us, l.p50_us, l.p99_us,
                 l.p999_us, l.calls_per_s, l.max_us, m.client_cpu_us_per_call,
                 m.server_cpu_us_per_call, l.calls, row.payload_size, MibPerSecond(row));
  }
}

}  // namespace notnets::bench
