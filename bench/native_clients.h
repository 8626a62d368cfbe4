// The clients of the notnets-native cases (see native_case.cc), one per kind of call.
#ifndef NOTNETS_BENCH_NATIVE_CLIENTS_H_
#define NOTNETS_BENCH_NATIVE_CLIENTS_H_

#include <memory>

#include "case.h"
#include "notnets/pool.h"

namespace notnets::bench {

// The service the native server registers.
inline constexpr char kNativeServiceName[] = "bench.Echo";

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
