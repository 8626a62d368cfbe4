#include "grpc/message_limits.h"

#include <grpc/grpc.h>

#include <cstring>
#include <string>

namespace notnets::grpc::internal {

namespace {

constexpr char kReceived[] = "Received message larger than max (";

// `words` ends in "(": gRPC's text, given whole so that it can be found as written.
::grpc::Status Failure(const char* words, size_t bytes, int64_t limit) {
  return ::grpc::Status(::grpc::StatusCode::RESOURCE_EXHAUSTED,
                        words + std::to_string(bytes) + " vs. " + std::to_string(limit) + ")");
}

// RESOURCE_EXHAUSTED with `words` if `metadata` is over `limit`, else OK.
::grpc::Status MetadataFailure(const notnets::Metadata& metadata, int64_t limit,
                               const char* words) {
  // RFC 7541's size of a header list entry, which gRPC's HPACK parser adds up.
  constexpr size_t kEntryOverhead = 32;
  size_t bytes = 0;
  for (const auto& [key, value] : metadata) bytes += key.size() + value.size() + kEntryOverhead;
  if (!MessageLimits::Over(bytes, limit)) return ::grpc::Status::OK;
  return ::grpc::Status(::grpc::StatusCode::RESOURCE_EXHAUSTED, words);
}

}  // namespace

::grpc::Status MessageLimits::ReceiveFailure(size_t bytes) const {
  return Failure(kReceived, bytes, max_receive);
}

::grpc::Status MessageLimits::SendFailure(size_t bytes) const {
  return Failure("Sent message larger than max (", bytes, max_send);
}

::grpc::Status MessageLimits::InitialMetadataFailure(const notnets::Metadata& metadata) const {
  return MetadataFailure(metadata, max_metadata, "received initial metadata size exceeds limit");
}

::grpc::Status MessageLimits::TrailingMetadataFailure(const notnets::Metadata& metadata) const {
  return MetadataFailure(metadata, max_metadata, "received trailing metadata size exceeds limit");
}

bool IsServerLimit(const notnets::Status& status) {
  return status.error_code() == notnets::StatusCode::RESOURCE_EXHAUSTED &&
         status.error_message().starts_with(kReceived);
}

MessageLimits LimitsOf(const ::grpc::ChannelArguments& arguments) {
  MessageLimits limits;
  grpc_channel_args args = arguments.c_channel_args();
  // The last setting of an argument wins, as in gRPC's lookup of a channel argument.
  for (size_t i = 0; i < args.num_args; ++i) {
    const grpc_arg& arg = args.args[i];
    if (arg.type != GRPC_ARG_INTEGER) continue;
    if (std::strcmp(arg.key, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH) == 0) {
      limits.max_receive = arg.value.integer;
    } else if (std::strcmp(arg.key, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH) == 0) {
      limits.max_send = arg.value.integer;
    } else if (std::strcmp(arg.key, GRPC_ARG_MAX_METADATA_SIZE) == 0) {
      limits.max_metadata = arg.value.integer;
    }
  }
  return limits;
}

}  // namespace notnets::grpc::internal
