// The gRPC cases' clients of echo.proto's EchoService.
#ifndef NOTNETS_BENCH_GRPC_CLIENTS_H_
#define NOTNETS_BENCH_GRPC_CLIENTS_H_

#include <grpcpp/channel.h>

#include <memory>

#include "case.h"

namespace notnets::bench {

// A blocking stub; synchronous calls only.
std::unique_ptr<EchoClient> MakeGrpcSyncClient(std::shared_ptr<::grpc::Channel> channel,
                                               size_t payload_size);

// The callback stub (stub->async()->Echo): asynchronous calls, and synchronous ones that wait
// for the callback.
std::unique_ptr<EchoClient> MakeGrpcCallbackClient(std::shared_ptr<::grpc::Channel> channel,
                                                   size_t payload_size);

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_GRPC_CLIENTS_H_
