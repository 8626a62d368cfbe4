// A benchmark case: one way of carrying an echo call between two processes.
//
// A case runs in two processes. In the parent it sets up what both sides share (Setup), then
// connects a client to the server (Connect). In a server process started by the parent it serves
// echo calls (Serve). Each case lives in its own .cc file and registers itself with a
// CaseRegistration, so adding a case means adding one file.
#ifndef NOTNETS_BENCH_CASE_H_
#define NOTNETS_BENCH_CASE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "notnets/status.h"

namespace notnets::bench {

// The request every case echoes.
inline constexpr std::string_view kEchoPayload = "hello world";

// What the parent tells every case.
struct CaseOptions {
  // Name of the notnets pool to create for cases that use one (see notnets::Pool::PathFor).
  std::string pool_name;
};

// The client end of a case, connected to a running server.
class EchoClient {
 public:
  virtual ~EchoClient() = default;
  // Sends kEchoPayload once and waits for the reply. Returns OK only if the reply equals the
  // request; the benchmark times each call to this.
  virtual Status Call() = 0;
};

// Called once by a server when it can answer calls, with the endpoint its clients need (a port
// number, or empty if the case needs none).
using ReadyCallback = std::function<void(std::string_view endpoint)>;

// One benchmark case. An instance is used either in the parent (Setup, Connect) or in a server
// process (Serve), never both.
class Case {
 public:
  // Removes whatever Setup created.
  virtual ~Case() = default;

  // Parent: creates what server and client share (a pool, a shared memory file) and fills
  // `server_args` with what the server process needs to find it.
  virtual Status Setup(const CaseOptions& options, std::vector<std::string>* server_args) = 0;

  // Server process: starts serving with `server_args` from Setup, calls `ready`, then serves
  // until WaitForStopSignal() returns (see process.h). Returns the first error.
  virtual Status Serve(const std::vector<std::string>& server_args, const ReadyCallback& ready) = 0;

  // Parent: connects to the server, which announced `endpoint`.
  virtual Status Connect(std::string_view endpoint, std::unique_ptr<EchoClient>* client) = 0;
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
