// The CPU time of a group of processes, found by a marker on their command lines, wherever they
// run: processes in other pid namespaces are in /proc too.
#ifndef NOTNETS_APPS_HOTEL_PROCESS_CPU_H_
#define NOTNETS_APPS_HOTEL_PROCESS_CPU_H_

#include <string>

namespace hotel {

// User plus system CPU seconds used so far by the live processes whose command line holds the
// arguments "--tag" `tag`, and their count in `*processes`. Resolution: one clock tick.
double CpuSecondsOfTagged(const std::string& tag, int* processes);

}  // namespace hotel

#endif  // NOTNETS_APPS_HOTEL_PROCESS_CPU_H_
