#include "plot.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "case.h"
#include "results.h"

namespace notnets::bench {
namespace {

// The common start of every plot: PNG output and CSV input with a header line.
void BeginPlot(FILE* out, const std::string& png, const std::string& title,
               const std::string& x_label, const std::string& y_label) {
  std::fprintf(out,
               "reset\nset terminal pngcairo size 900,560 font ',10'\nset output '%s'\n"
               "set datafile separator ','\nset title '%s'\nset xlabel '%s'\nset ylabel '%s'\n"
               "set grid\nset key outside right top\n",
               png.c_str(), title.c_str(), x_label.c_str(), y_label.c_str());
}

// Distinct colours, one per registered case in running order, so that a case has the same colour
// in every plot.
constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                    "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                    "#bcbd22", "#17becf", "#000000", "#aec7e8"};

std::string ColourOf(const std::string& name) {
  std::vector<std::string> names = RegisteredCaseNames();
  size_t index = std::find(names.begin(), names.end(), name) - names.begin();
  return kColours[index % (sizeof(kColours) / sizeof(kColours[0]))];
}

// One line per case of a plot: column `y` against `x`.
struct Series {
  std::string y;
  // Added to "with ... lc <case>" ("lines dt 2").
  std::string style;
  // Added to the case's name in the key.
  std::string title_suffix;
};

// A plot command with each series for each case, from rows of `csv` whose first column is the
// case.
void PlotPerCase(FILE* out, const std::string& csv, const std::vector<std::string>& cases,
                 const std::string& x, const std::vector<Series>& series) {
  std::fprintf(out, "plot ");
  bool first = true;
  for (const Series& one : series) {
    for (size_t i = 0; i < cases.size(); ++i) {
      std::fprintf(out,
                   "%s'%s' every ::1 using (strcol(1) eq '%s' ? %s : NaN):%s with %s "
                   "lc rgb '%s' title '%s%s'",
                   first ? "" : ", \\\n     ", csv.c_str(), cases[i].c_str(), x.c_str(),
                   one.y.c_str(), one.style.c_str(), ColourOf(cases[i]).c_str(), cases[i].c_str(),
                   one.title_suffix.c_str());
      first = false;
    }
  }
  std::fprintf(out, "\n");
}

// The distinct case names of a sweep, in order of first appearance.
std::vector<std::string> CasesOf(const Sweep& sweep) {
  std::vector<std::string> cases;
  std::set<std::string> seen;
  for (const SweepRow& row : sweep.rows) {
    if (seen.insert(row.case_name).second) cases.push_back(row.case_name);
  }
  return cases;
}

// Columns of a sweep CSV (see PrintSweepCsv).
constexpr char kX[] = "$2", kP50[] = "4", kP99[] = "5", kCallsPerS[] = "7", kMibPerS[] = "13";

void PlotSweep(FILE* out, const Sweep& sweep, std::vector<std::string>* pngs) {
  std::vector<std::string> cases = CasesOf(sweep);
  if (cases.empty()) return;
  std::string csv = sweep.name + ".csv";
  std::string x_label = sweep.x_name;
  for (char& c : x_label) {
    if (c == '_') c = ' ';
  }
  bool by_size = sweep.name == "size";
  // Request sizes in binary units ("4 KiB"); idle connections in powers of ten.
  std::string x_axis = by_size                     ? "set logscale x 2\nset format x '%.0b %BB'\n"
                       : sweep.name == "idleconns" ? "set logscale x 10\n"
                                                   : "set logscale x 2\n";
  std::string png = sweep.name + "_latency.png";
  BeginPlot(out, png, sweep.name + " sweep: p50 (solid) and p99 (dashed) latency", x_label,
            "latency (us)");
  std::fprintf(out, "%sset logscale y 10\n", x_axis.c_str());
  PlotPerCase(out, csv, cases, kX,
              {{kP50, "linespoints pt 7 ps 0.6", " p50"}, {kP99, "lines dt 2", " p99"}});
  pngs->push_back(png);

  png = sweep.name + "_throughput.png";
  BeginPlot(out, png,
            sweep.name + (by_size ? " sweep: payload throughput each way" : " sweep: throughput"),
            x_label, by_size ? "MiB/s" : "calls/s");
  std::fprintf(out, "%sset logscale y 10\n", x_axis.c_str());
  PlotPerCase(out, csv, cases, kX,
              {{by_size ? kMibPerS : kCallsPerS, "linespoints pt 7 ps 0.6", ""}});
  pngs->push_back(png);
}

// Runs gnuplot on `script` in `dir`.
Status RunGnuplot(const std::string& dir, const std::string& script) {
  pid_t pid = fork();
  if (pid < 0) return Status(StatusCode::INTERNAL, "fork failed");
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(126);
    execlp("gnuplot", "gnuplot", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::OK;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    return Status(StatusCode::UNAVAILABLE,
                  "gnuplot not found (Debian: gnuplot-nox; scripts/install-deps.sh installs it)");
  }
  return Status(StatusCode::INTERNAL, "gnuplot failed on " + dir + "/" + script);
}

}  // namespace

Status DrawPlots(const std::string& dir, const PlotInputs& inputs, std::vector<std::string>* pngs) {
  std::vector<std::string> drawn;
  Status status = WriteResultFile(dir, "plots.gp", [&](FILE* out) {
    if (!inputs.cdf_cases.empty()) {
      BeginPlot(out, "latency_cdf.png", "latency CDF per case (main table)", "latency (us)",
                "percentile");
      std::fprintf(out, "set logscale x 10\nset yrange [0:100]\n");
      PlotPerCase(out, "cdf.csv", inputs.cdf_cases, "$3", {{"2", "lines lw 2", ""}});
      drawn.push_back("latency_cdf.png");
      BeginPlot(out, "latency_tail.png", "latency tail: share of calls slower than x",
                "latency (us)", "calls slower (%)");
      std::fprintf(out, "set logscale x 10\nset logscale y 10\nset yrange [0.001:100]\n");
      PlotPerCase(out, "cdf.csv", inputs.cdf_cases, "$3", {{"(100-$2)", "lines lw 2", ""}});
      drawn.push_back("latency_tail.png");
    }
    for (const Sweep* sweep : inputs.sweeps) PlotSweep(out, *sweep, &drawn);
  });
  if (!status.ok()) return status;
  status = RunGnuplot(dir, "plots.gp");
  if (status.ok()) *pngs = drawn;
  return status;
}

}  // namespace notnets::bench
