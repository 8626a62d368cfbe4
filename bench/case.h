// A benchmark case: one way of carrying an echo call between two processes.
//
// A case runs in three processes. In the parent it sets up what the others share (Setup). In a
// server process it serves echo calls (Serve). In a client process it connects clients to the
// server (Connect); the client process times their calls. Each case lives in its own .cc file and
// registers itself with a CaseRegistration, so adding a case means adding one file.
#ifndef NOTNETS_BENCH_CASE_H_
#define NOTNETS_BENCH_CASE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "notnets/status.h"

namespace notnets::bench {

// What the parent tells every case's Setup.
struct CaseOptions {
  // Name of the notnets pool to create for cases that use one (see notnets::Pool::PathFor).
  std::string pool_name;
  // Size of that pool in bytes; 0 for notnets' default.
  uint64_t pool_bytes = 0;
  // CPUs the server process and the client processes are pinned to; -1 for no pinning.
  int server_cpu = -1;
  int client_cpu = -1;
  // Appended to the server arguments Setup returns, to shape the server (see native_clients.h).
  std::vector<std::string> server_words;
  // Words that run the server process, before the case's own Launcher (for example unshare, to
  // put it in a pid namespace of its own); empty to run it as the case does.
  std::vector<std::string> server_launcher;
};

// What a client process tells Connect.
struct ClientOptions {
  // Bytes in each request (see payload.h).
  size_t payload_size = 11;
  // The client will only be held open, never called more than once: use the smallest footprint.
  bool idle = false;
};

// The client end of a case, connected to a running server. Used by one thread at a time.
class EchoClient {
 public:
  virtual ~EchoClient() = default;
  // Sends the next request once and waits for the reply. Returns OK only if the reply is the
  // request (DATA_LOSS otherwise); the benchmark times each call to this.
  virtual Status Call() = 0;
  // True if CallAsync works.
  virtual bool SupportsAsync() const { return false; }
  // Sends the next request and returns at once; `done` runs once, on any thread (possibly this
  // one, before CallAsync returns), with the status Call would have returned. Calls overlap: the
  // benchmark keeps several outstanding, and serializes its calls to CallAsync.
  virtual void CallAsync(std::function<void(Status)> done) {
    done(Status(StatusCode::UNIMPLEMENTED, "this case has no asynchronous calls"));
  }
  // Called after the client's last measured call, outside the timed phase. A case whose calls
  // may silently take another path than the one it measures (a fallback transport) returns an
  // error here if any did; the runner then reports the error instead of the figures.
  virtual Status CheckPath() { return Status::OK; }
};

// Called once by a server when it can answer calls, with the endpoint its clients need (an
// address, or empty if the case needs none).
using ReadyCallback = std::function<void(std::string_view endpoint)>;

// One benchmark case. An instance is used in one process only: the parent (Setup), a server
// process (Serve) or a client process (Connect).
class Case {
 public:
  // Removes whatever Setup created.
  virtual ~Case() = default;

  // Parent: creates what server and clients share (a pool, a shared memory file, a daemon) and
  // fills `server_args` with what the other processes need to find it.
  virtual Status Setup(const CaseOptions& options, std::vector<std::string>* server_args) = 0;

  // Server process: starts serving with `server_args` from Setup, calls `ready`, then serves
  // until WaitForStopSignal() returns (see process.h). Returns the first error.
  virtual Status Serve(const std::vector<std::string>& server_args, const ReadyCallback& ready) = 0;

  // Client process: connects a new client to the server, which announced `endpoint`. May be
  // called many times on one instance, from one thread at a time; the instance outlives its
  // clients.
  virtual Status Connect(const std::vector<std::string>& server_args, std::string_view endpoint,
                         const ClientOptions& options, std::unique_ptr<EchoClient>* client) = 0;

  // Largest request this case can carry.
  virtual size_t MaxPayload() const { return size_t{64} << 20; }

  // True if the server takes a single client in its life: such a case has no connection set-up
  // to time (Job::connects).
  virtual bool OneClientOnly() const { return false; }

  // Parent: a command that runs the server process (role "serve") or a client process
  // ("client") of this case, given the `server_args` of Setup, with the process's own command
  // line appended (for example one that puts it on an emulated host); empty to run it directly.
  virtual std::vector<std::string> Launcher(
      [[maybe_unused]] const std::string& role,
      [[maybe_unused]] const std::vector<std::string>& server_args) const {
    return {};
  }
};

// Makes a case instance.
using CaseFactory = std::function<std::unique_ptr<Case>()>;

// Registers a case under `name`. Define one at namespace scope in the case's file; `rank` fixes
// the case's place in the default running order (lowest first).
class CaseRegistration {
 public:
  CaseRegistration(int rank, std::string name, CaseFactory factory);
};

// The names of all registered cases, in running order.
std::vector<std::string> RegisteredCaseNames();

// Makes the case called `name`; returns nullptr if there is none.
std::unique_ptr<Case> MakeCase(std::string_view name);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_CASE_H_
