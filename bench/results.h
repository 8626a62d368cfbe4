// The results folder of "notnets-bench all": CSVs, the printed report and the plots.
#ifndef NOTNETS_BENCH_RESULTS_H_
#define NOTNETS_BENCH_RESULTS_H_

#include <cstdio>
#include <functional>
#include <string>

#include "notnets/status.h"

namespace notnets::bench {

// ./results/<YYYYmmdd-HHMMSS> in the current folder.
std::string DefaultResultsDir();

// Creates `dir` and its parents if missing.
Status MakeResultsDir(const std::string& dir);

// Creates or replaces `dir`/`name` with what `write` prints into it.
Status WriteResultFile(const std::string& dir, const std::string& name,
                       const std::function<void(FILE*)>& write);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_RESULTS_H_
