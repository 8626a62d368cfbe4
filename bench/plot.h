// The PNG plots of "notnets-bench all", drawn by gnuplot from the CSVs in the results folder.
#ifndef NOTNETS_BENCH_PLOT_H_
#define NOTNETS_BENCH_PLOT_H_

#include <string>
#include <vector>

#include "notnets/status.h"
#include "sweep.h"

namespace notnets::bench {

// What there is to plot, by case name (empty lists are not plotted).
struct PlotInputs {
  // Cases with a CDF in cdf.csv.
  std::vector<std::string> cdf_cases;
  // The sweeps written as <name>.csv.
  std::vector<const Sweep*> sweeps;
};

// Writes plots.gp into `dir` and runs gnuplot on it there, which writes the PNGs; returns their
// names in `pngs`. Fails if gnuplot is missing or fails.
Status DrawPlots(const std::string& dir, const PlotInputs& inputs, std::vector<std::string>* pngs);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_PLOT_H_
