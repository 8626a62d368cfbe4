// gRPC's message size limits (GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH and
// GRPC_ARG_MAX_SEND_MESSAGE_LENGTH), enforced on the pool path as gRPC's message size filter does
// over HTTP/2, and its limit on received metadata (GRPC_ARG_MAX_METADATA_SIZE), as its HTTP/2
// transport enforces it: with RESOURCE_EXHAUSTED and gRPC 1.51's words.
#ifndef NOTNETS_GRPC_MESSAGE_LIMITS_H_
#define NOTNETS_GRPC_MESSAGE_LIMITS_H_

#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/status.h>

#include <cstddef>
#include <cstdint>

#include "notnets/metadata.h"
#include "notnets/status.h"

namespace notnets::grpc::internal {

// The largest message a side accepts and sends; negative: no limit.
struct MessageLimits {
  int64_t max_receive = 4 * 1024 * 1024;  // gRPC's default, on clients and servers
  int64_t max_send = -1;
  // The most metadata a side accepts, counted as HTTP/2 counts a header list: each entry's key
  // and value and 32 bytes. gRPC's default, on clients and servers.
  int64_t max_metadata = 8 * 1024;

  // Whether `bytes` is over the limit (a negative limit never is).
  static bool Over(size_t bytes, int64_t limit) {
    return limit >= 0 && bytes > static_cast<uint64_t>(limit);
  }
  // gRPC's status for a message received over, or sent over, the limit.
  ::grpc::Status ReceiveFailure(size_t bytes) const;
  ::grpc::Status SendFailure(size_t bytes) const;
  // gRPC's status for received initial metadata over the limit; OK when it is within it. gRPC
  // counts its own headers too (the method's path, the authority, the user agent...), so its
  // limit falls a few hundred bytes of user metadata earlier.
  ::grpc::Status InitialMetadataFailure(const notnets::Metadata& metadata) const;
  // The same for received trailing metadata.
  ::grpc::Status TrailingMetadataFailure(const notnets::Metadata& metadata) const;
};

// Whether `status` is a server's refusal of a stream message over its receive limit.
bool IsServerLimit(const notnets::Status& status);

// The limits `arguments` set, gRPC's defaults for those they do not. A ServerBuilder's
// SetMaxReceiveMessageSize / SetMaxSendMessageSize reach its plugins as these arguments too.
MessageLimits LimitsOf(const ::grpc::ChannelArguments& arguments);

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_MESSAGE_LIMITS_H_
