// The common start of a fleet's timed phase (fleet.h), handed from the parent to its client
// processes through a file: the parent can only fix the start once every client has connected
// and warmed up, which on a loaded machine (or under a sanitizer) takes longer than any lead
// chosen beforehand, and a client's command line is written before it starts.
#ifndef NOTNETS_BENCH_START_FILE_H_
#define NOTNETS_BENCH_START_FILE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "emergency.h"
#include "notnets/status.h"

namespace notnets::bench {

// Parent side: a start file not yet written, removed (with EmergencyExit too) when destroyed.
class StartFile {
 public:
  // A fresh path under the system's temporary folder, unique to this process.
  StartFile();
  ~StartFile();
  StartFile(const StartFile&) = delete;
  StartFile& operator=(const StartFile&) = delete;

  // Where the clients look.
  const std::string& path() const { return path_; }

  // Writes `start_ns` (CLOCK_MONOTONIC, steady_clock's epoch) so that a reader sees all of it or
  // no file: written beside the path, then renamed onto it.
  Status Publish(int64_t start_ns);

 private:
  std::string path_;
  std::unique_ptr<EmergencyUnlink> remove_on_emergency_;
};

// Client side: waits until the file at `path` holds the start, polling every millisecond, for up
// to `timeout_seconds`. DEADLINE_EXCEEDED if it never appears.
Status AwaitStart(const std::string& path, double timeout_seconds, int64_t* start_ns);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_START_FILE_H_
