// What every call along a request's path carries from the call that caused it: its deadline and
// its trace id, so that a request's calls share one time budget and can be told apart in logs.
#ifndef NOTNETS_APPS_HOTEL_CALL_CONTEXT_H_
#define NOTNETS_APPS_HOTEL_CALL_CONTEXT_H_

#include <grpcpp/grpcpp.h>

#include <string>

namespace hotel {

// Client metadata key of the trace id.
inline constexpr char kTraceIdKey[] = "x-trace-id";

// The trace id of the incoming call, or empty if it has none.
std::string TraceIdOf(const grpc::ServerContext& incoming);

// Sets `outgoing`'s deadline and trace id from `incoming`'s. Fails with INVALID_ARGUMENT (and
// leaves `outgoing` alone) when `incoming` carries no trace id, so that a hop that dropped it is
// an error rather than an untraced call.
grpc::Status Propagate(const grpc::ServerContext& incoming, grpc::ClientContext* outgoing);

// A leaf service's check that the trace id reached it: OK, or INVALID_ARGUMENT as Propagate.
grpc::Status RequireTraceId(const grpc::ServerContext& incoming);

}  // namespace hotel

#endif  // NOTNETS_APPS_HOTEL_CALL_CONTEXT_H_
