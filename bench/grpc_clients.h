// The gRPC cases' clients of echo.proto's EchoService.
#ifndef NOTNETS_BENCH_GRPC_CLIENTS_H_
#define NOTNETS_BENCH_GRPC_CLIENTS_H_

#include <grpcpp/channel.h>

#include <memory>

#include "case.h"
#include "grpc_case.h"

namespace notnets::bench {

// The client of `api` (see GrpcApi) on `channel`, sending `payload_size` bytes per request. Only
// the callback client makes asynchronous calls (its synchronous ones wait for the callback). A
// stream client checks every reply's payload and, for kServerStream, that each stream carried
// kStreamMessages replies and ended OK.
std::unique_ptr<EchoClient> MakeGrpcClient(GrpcApi api, std::shared_ptr<::grpc::Channel> channel,
                                           size_t payload_size);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_GRPC_CLIENTS_H_
