// echo.proto's EchoStreamService, served with the callback API: the server of the *-stream cases.
#ifndef NOTNETS_BENCH_GRPC_STREAM_SERVICE_H_
#define NOTNETS_BENCH_GRPC_STREAM_SERVICE_H_

#include <memory>

namespace grpc {
class Service;
}  // namespace grpc

namespace notnets::bench {

// An EchoStreamService::CallbackService: Stream writes its replies back to back, each as soon as
// the last one was taken; Chat answers each request before it reads the next. The callback API
// because only it is served over the pool for streaming methods (see notnets/grpc/server.h).
std::unique_ptr<::grpc::Service> MakeStreamService();

}  // namespace notnets::bench

#endif  // NOTNETS_BENCH_GRPC_STREAM_SERVICE_H_
