// iceoryx's RouDi daemon, started and stopped by the benchmark in a process of its own. Every
// iceoryx process registers with RouDi; RouDi owns iceoryx's shared memory
// (/dev/shm/iceoryx_mgmt and /dev/shm/<user>) and its sockets and locks under /tmp, which are
// removed when it stops, or by EmergencyExit if the benchmark is interrupted.
#ifndef NOTNETS_BENCH_ROUDI_H_
#define NOTNETS_BENCH_ROUDI_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "emergency.h"
#include "notnets/status.h"

namespace notnets::bench {

// One RouDi process.
class RouDi {
 public:
  RouDi() = default;
  // Stops RouDi if it runs.
  ~RouDi();
  RouDi(const RouDi&) = delete;
  RouDi& operator=(const RouDi&) = delete;

  // Starts iox-roudi (from PATH) and waits until it is ready for clients. Fails if iox-roudi is
  // missing, if another RouDi holds its lock, or if it is not ready within 10 s; its log is then
  // in the status.
  Status Start();

  // Stops RouDi (SIGTERM, then SIGKILL after 10 s) and removes whatever it left behind.
  void Stop();

 private:
  // Waits for RouDi to exit and reaps it.
  void Reap();
  // The files RouDi creates, to remove if it left them.
  static std::vector<std::string> Leftovers();

  pid_t pid_ = -1;
  std::string log_path_;
  std::unique_ptr<EmergencyKill> kill_on_emergency_;
  std::vector<std::unique_ptr<EmergencyUnlink>> unlink_on_emergency_;
  std::unique_ptr<EmergencyUnlink> unlink_log_on_emergency_;
};

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_ROUDI_H_
