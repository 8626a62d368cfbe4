#include "grpc/message_io.h"

#include "grpc/wire.h"

namespace notnets::grpc::internal {

notnets::Status SerializeInto(const ::google::protobuf::MessageLite& message,
                              const MessageLimits& limits, notnets::ServerResponse* response) {
  size_t size = message.ByteSizeLong();
  if (MessageLimits::Over(size, limits.max_send)) return NativeStatus(limits.SendFailure(size));
  if (size > static_cast<size_t>(INT32_MAX)) {
    return notnets::Status(notnets::StatusCode::RESOURCE_EXHAUSTED,
                           "a " + message.GetTypeName() + " response over 2 GiB cannot be sent");
  }
  uint8_t small[32];
  if (size <= sizeof(small)) {
    message.SerializeWithCachedSizesToArray(small);
    response->Copy(std::string_view(reinterpret_cast<const char*>(small), size));
    return notnets::Status::OK;
  }
  notnets::MessageBuffer buffer;
  notnets::Status status = response->Allocate(size, &buffer);
  if (!status.ok()) return status;
  message.SerializeWithCachedSizesToArray(buffer.data());
  buffer.set_size(size);
  response->Send(std::move(buffer));
  return notnets::Status::OK;
}

notnets::Status NativeStatus(const ::grpc::Status& status) {
  return notnets::Status(static_cast<notnets::StatusCode>(status.error_code()),
                         status.error_message());
}

notnets::Status ParseFrom(std::string_view bytes, ::google::protobuf::MessageLite* message) {
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return notnets::Status(notnets::StatusCode::INTERNAL,
                           "the message is not a valid " + message->GetTypeName());
  }
  return notnets::Status::OK;
}

notnets::Status ToNative(const ::grpc::Status& status,
                         const std::multimap<std::string, std::string>& initial,
                         const std::multimap<std::string, std::string>& trailing,
                         notnets::ServerContext* context) {
  for (const auto& [key, value] : initial) context->AddInitialMetadata(key, value);
  for (const auto& [key, value] : trailing) context->AddTrailingMetadata(key, value);
  if (!status.error_details().empty()) {
    context->AddTrailingMetadata(kStatusDetailsKey, status.error_details());
  }
  int code = status.error_code();
  if (code < 0 || code > static_cast<int>(notnets::StatusCode::UNAUTHENTICATED)) {
    // A negative code reaches gRPC's clients as UNKNOWN too.
    if (code > 0) context->AddTrailingMetadata(kStatusCodeKey, std::to_string(code));
    return notnets::Status(notnets::StatusCode::UNKNOWN, status.error_message());
  }
  return NativeStatus(status);
}

}  // namespace notnets::grpc::internal
