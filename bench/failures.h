// The cases or points of a run that failed or returned wrong data. A run with any failure prints
// no comparison and no plot, and exits with status 1.
#ifndef NOTNETS_BENCH_FAILURES_H_
#define NOTNETS_BENCH_FAILURES_H_

#include <cstddef>
#include <string>
#include <vector>

#include "notnets/status.h"

namespace notnets::bench {

// Collects the failures of one run.
class Failures {
 public:
  // Records that `what` (a case, or "sweep/case/point") failed with `status`, and says so on
  // stderr at once.
  void Add(const std::string& what, const Status& status);

  bool empty() const { return entries_.empty(); }

  // One line per failure.
  std::vector<std::string> Lines() const;

  // Prints "N of M failed: ..." (without "of M" if `attempted` is 0) on stderr if any failed;
  // returns the exit status (0 or 1).
  int Report(size_t attempted) const;

 private:
  std::vector<std::string> entries_;
  std::vector<std::string> lines_;
};

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_FAILURES_H_
