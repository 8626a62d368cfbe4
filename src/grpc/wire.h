// How gRPC calls travel as notnets calls: the names, keys and framing both ends share.
//
// A unary call is one notnets call to the method's name. A streaming call is an "open" call to
// the method's name that stays outstanding for the whole stream (its answer carries the final
// status, trailers and, for client streaming, the response), plus one notnets call per stream
// operation to kStreamMethod. A call to a method the server knows only by its full name (a
// generic service's, reflection's) goes to the pool service kGenericService instead, which
// carries it by that name (below); one to a method no server in the pool has, to
// kUnimplementedService, carried the same way. A service's own pool entry carries, the same way,
// the calls of its own methods that their entries cannot take as they come (a generic stub's
// stream of a method that is not bidi, a method one binding lacks). docs/grpc.md describes the
// protocol.
#ifndef NOTNETS_GRPC_WIRE_H_
#define NOTNETS_GRPC_WIRE_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace notnets::grpc::internal {

// The notnets method that carries stream operations.
inline constexpr char kStreamMethod[] = "~stream";
// The trailer that carries grpc::Status::error_details(), as on the HTTP/2 wire.
inline constexpr char kStatusDetailsKey[] = "grpc-status-details-bin";
// The trailer that carries a status code outside notnets' sixteen (gRPC carries any code a
// handler returns), whose answer's own code is UNKNOWN; as on the HTTP/2 wire.
inline constexpr char kStatusCodeKey[] = "grpc-status";

// A stream operation's request: [op: 1 byte][stream id: 8 bytes][message].
enum class StreamOp : uint8_t {
  kRead = 1,             // answered with the next messages (below), or a non-OK status at the end
  kWrite = 2,            // answered once the server took the message (flow control)
  kWritesDone = 3,       // the client half-closes
  kInitialMetadata = 4,  // answered with the server's initial metadata once it is sent
  kClose = 5,            // the client is done with the stream: the server forgets it
};
inline constexpr size_t kStreamOpHeaderBytes = 9;
// An open call's request starts with the stream id.
inline constexpr size_t kStreamIdBytes = 8;
// Messages a stream buffers in each direction before a writer waits: about what HTTP/2's default
// 64 KiB window holds of small messages, so that a program that writes ahead of its reads on
// HTTP/2 does not stall on the pool.
inline constexpr size_t kStreamWindow = 256;
// Toward the client, the server's buffer also takes messages while they hold fewer bytes than
// this, as HTTP/2's byte window does: a stream of small messages then fills whole read answers
// (kReadAnswerBytes) and costs a round trip per thousands of messages, not per 256.
inline constexpr size_t kStreamWindowBytes = 64 * 1024;

// A read's answer carries every message the server had buffered, oldest first, up to
// kReadAnswerBytes after the first, each as [length: 4 bytes][message]: a reader that fell behind
// catches up in one round trip instead of one per message.
inline constexpr size_t kReadAnswerBytes = 64 * 1024;
inline constexpr size_t kMessageLengthBytes = 4;

// Appends `message` to a read's answer.
inline void AppendReadMessage(std::string_view message, std::string* answer) {
  uint32_t length = static_cast<uint32_t>(message.size());
  char bytes[kMessageLengthBytes];
  std::memcpy(bytes, &length, sizeof(length));
  answer->append(bytes, sizeof(bytes));
  answer->append(message);
}

// Takes the first message off `*answer`, the unread part of a read's answer; false if it does not
// start with a whole message (the answer is used up, or malformed).
inline bool TakeReadMessage(std::string_view* answer, std::string_view* message) {
  uint32_t length;
  if (answer->size() < sizeof(length)) return false;
  std::memcpy(&length, answer->data(), sizeof(length));
  if (answer->size() - sizeof(length) < length) return false;
  *message = answer->substr(sizeof(length), length);
  answer->remove_prefix(sizeof(length) + length);
  return true;
}

inline void EncodeStreamOp(StreamOp op, uint64_t id, uint8_t* out) {
  out[0] = static_cast<uint8_t>(op);
  std::memcpy(out + 1, &id, sizeof(id));
}

// The pool service of a server's calls by full method name, which a grpc::Server with a generic
// service, or with services the server has no binding for, registers: no gRPC service name
// contains '~'.
inline constexpr char kGenericService[] = "~generic";
// The pool service of a grpc::Server whose every service is in the pool under its own name and
// that serves no method by full name only (no generic service of its own, no service without a
// binding): it carries the calls of the methods that server does not have, by full name as
// kGenericService does, so that gRPC answers them as over HTTP/2 (UNIMPLEMENTED). Every such
// server answers them alike, so all register it as replicas of one another. A channel with no
// HTTP/2 target sends there the calls that no server in the pool serves otherwise.
inline constexpr char kUnimplementedService[] = "~unimplemented";
// Its unary method, which a service's own entry also has (for paths of that service):
// [path length: 2 bytes][path "/pkg.Service/Method"][message].
inline constexpr char kGenericUnaryMethod[] = "~call";
// Its stream open: [stream id: 8 bytes][kind: 1 byte (RpcKind)][path length: 2 bytes][path]
// [message: a server-streaming call's request]. Its stream operations go to kStreamMethod.
inline constexpr char kGenericOpenMethod[] = "~open";
inline constexpr size_t kPathLengthBytes = 2;
inline constexpr size_t kMaxPathBytes = UINT16_MAX;

// Writes [path length][path] at `out` (kPathLengthBytes + path.size() bytes; the path is at most
// kMaxPathBytes long).
inline void EncodePath(std::string_view path, uint8_t* out) {
  uint16_t length = static_cast<uint16_t>(path.size());
  std::memcpy(out, &length, sizeof(length));
  std::memcpy(out + sizeof(length), path.data(), path.size());
}

// Takes [path length][path] off the front of `*bytes`; false if they do not start with a whole
// one.
inline bool TakePath(std::string_view* bytes, std::string_view* path) {
  uint16_t length;
  if (bytes->size() < sizeof(length)) return false;
  std::memcpy(&length, bytes->data(), sizeof(length));
  if (bytes->size() - sizeof(length) < length) return false;
  *path = bytes->substr(sizeof(length), length);
  bytes->remove_prefix(sizeof(length) + length);
  return true;
}

inline uint64_t DecodeStreamId(const uint8_t* bytes) {
  uint64_t id;
  std::memcpy(&id, bytes, sizeof(id));
  return id;
}

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_WIRE_H_
