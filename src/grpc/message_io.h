// Protobuf messages in and out of pool memory, and gRPC statuses as notnets statuses.
#ifndef NOTNETS_GRPC_MESSAGE_IO_H_
#define NOTNETS_GRPC_MESSAGE_IO_H_

#include <google/protobuf/message_lite.h>
#include <grpcpp/support/status.h>

#include <map>
#include <string>

#include "grpc/message_limits.h"
#include "notnets/server.h"
#include "notnets/status.h"

namespace notnets::grpc::internal {

// Serializes `message` straight into a pool buffer of the response (or inline if tiny); a
// message over `limits.max_send` fails with gRPC's status for it instead.
notnets::Status SerializeInto(const ::google::protobuf::MessageLite& message,
                              const MessageLimits& limits, notnets::ServerResponse* response);

// `status` as a notnets status: the same code and message.
notnets::Status NativeStatus(const ::grpc::Status& status);

// Parses `message` straight out of `bytes` (pool memory); an INTERNAL status naming the type if
// they are not a valid encoding.
notnets::Status ParseFrom(std::string_view bytes, ::google::protobuf::MessageLite* message);

// What a gRPC handler produced, as the notnets answer: the code and message, the binary details
// as the kStatusDetailsKey trailer, a code notnets does not have as UNKNOWN and the
// kStatusCodeKey trailer, and the handler's metadata.
notnets::Status ToNative(const ::grpc::Status& status,
                         const std::multimap<std::string, std::string>& initial,
                         const std::multimap<std::string, std::string>& trailing,
                         notnets::ServerContext* context);

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_MESSAGE_IO_H_
