#include "call_context.h"

namespace hotel {

std::string TraceIdOf(const grpc::ServerContext& incoming) {
  const auto& metadata = incoming.client_metadata();
  auto entry = metadata.find(kTraceIdKey);
  if (entry == metadata.end()) return "";
  return std::string(entry->second.data(), entry->second.size());
}

grpc::Status RequireTraceId(const grpc::ServerContext& incoming) {
  if (TraceIdOf(incoming).empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hotel: the call has no trace id");
  }
  return grpc::Status::OK;
}

grpc::Status Propagate(const grpc::ServerContext& incoming, grpc::ClientContext* outgoing) {
  std::string trace_id = TraceIdOf(incoming);
  if (trace_id.empty()) return RequireTraceId(incoming);
  outgoing->set_deadline(incoming.deadline());
  outgoing->AddMetadata(kTraceIdKey, trace_id);
  return grpc::Status::OK;
}

}  // namespace hotel
