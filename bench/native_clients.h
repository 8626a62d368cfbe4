// The clients of the notnets-native cases (see native_case.cc), one per kind of call.
#ifndef NOTNETS_BENCH_NATIVE_CLIENTS_H_
#define NOTNETS_BENCH_NATIVE_CLIENTS_H_

#include <memory>
#include <string>
#include <vector>

#include "case.h"
#include "notnets/pool.h"

namespace notnets::bench {

// The service the native server registers.
inline constexpr char kNativeServiceName[] = "bench.Echo";

// Words that may follow the pool's path in the server arguments of the notnets-native cases
// (after Setup's), to shape the server: serve as a replica (ServerBuilder::ServeAsReplica)...
inline constexpr char kNativeReplicaWord[] = "replica";

// ...and run between `min` and `max` workers (ServerBuilder::SetMin/MaxWorkerThreads).
inline std::vector<std::string> NativeWorkersWords(int min, int max) {
  return {"min_workers=" + std::to_string(min), "max_workers=" + std::to_string(max)};
}

// ...and accept up to `count` connections from one client process
// (ServerBuilder::SetMaxConnectionsPerClient), for a holder of many idle connections.
inline std::string NativeMaxConnectionsPerClientWord(uint32_t count) {
  return "max_connections_per_client=" + std::to_string(count);
}

// Connections a client process that only holds idle clients (ClientOptions::idle) may open: its
// pool quota (PoolOptions::max_process_connections) is raised to this, as the idle-connections
// sweep's 10,000 need.
inline constexpr uint32_t kIdleHolderMaxConnections = 20000;

// How a native client calls.
enum class NativeCallKind {
  // Channel::Call with a string: the library copies request and response ("Echo").
  kCopy,
  // The request built in a pool buffer, the reply read in place ("EchoZeroCopy").
  kZeroCopy,
  // As kZeroCopy, but only the stamps are written and checked ("EchoStamp").
  kStamp,
};

// Connects a client of `kind` to the native echo service in `pool`.
Status ConnectNativeClient(std::shared_ptr<Pool> pool, NativeCallKind kind,
                           const ClientOptions& options, std::unique_ptr<EchoClient>* client);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_NATIVE_CLIENTS_H_
