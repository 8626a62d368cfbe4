// The call encoding, both directions: how a call's method, deadline, headers and payload go into
// a descriptor and the pool blocks it names, how a response's status, metadata and payload do,
// and how each is read back. The one home of the wire format above the ring (protocol.md
// sections 5 and 6); the client encodes requests and decodes responses, the server the reverse.
#ifndef NOTNETS_RPC_CALL_CODEC_H_
#define NOTNETS_RPC_CALL_CODEC_H_

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "channel/descriptor.h"
#include "notnets/message.h"
#include "notnets/metadata.h"
#include "notnets/status.h"
#include "rpc/buffer_cache.h"

namespace notnets::internal {

// A message body to send: `bytes` to copy, or (when not null) a filled pool buffer to hand over.
struct OutgoingPayload {
  std::string_view bytes;
  MessageBuffer* buffer = nullptr;
};

// Why a received message could not be read: each names what of it was invalid.
enum class DecodeError {
  kNone,
  kMetadataBlock,     // the metadata block did not validate
  kMetadataEncoding,  // ... or did not decode
  kStatusCode,        // not one of the canonical codes
  kPayloadBlock,      // the payload block did not validate
  kInlineLength,      // an inline length over kInlineMessageBytes
};

// The words the client's error message uses for `error` ("metadata block", ...).
const char* DecodeErrorName(DecodeError error);

// Encodes a request for method number `method`, with `timeout_ns` of the caller's time left (0
// for none), into `message`; its blocks are published to endpoint `server`. `headers` travel in
// a metadata block, with `call_token` (an at-most-once call's, 0 for none) under kCallTokenKey.
// On failure nothing stays allocated, and a buffer that was handed over is gone.
inline Status EncodeRequest(BufferCache* cache, uint64_t server, uint32_t method,
                            uint64_t timeout_ns, OutgoingPayload payload, const Metadata& headers,
                            uint64_t call_token, Message* message);

// Reads a request: its payload into `payload` and its headers into `headers`. Returns what about
// it broke the protocol, in the words of the server's error message, or nullptr. Both blocks are
// taken before either is judged, so that neither leaks when the other is invalid.
inline const char* DecodeRequest(BufferCache* cache, const Message& request,
                                 ReceivedMessage* payload, Metadata* headers);

// The deadline a request carries, measured from now; time_point::max() for none (also for a
// timeout the clock cannot add, which only a faulty client sends). Reads the clock only if there
// is a timeout.
inline std::chrono::steady_clock::time_point RequestDeadline(const Message& request);

// Takes an at-most-once call's token out of decoded request headers; false if there is none.
inline bool TakeCallToken(Metadata* headers, uint64_t* token);

// Encodes the response to call `call_id` into `message`, its blocks published to endpoint
// `client`: the payload (sent only with an OK status) is `buffer` when given and valid, else
// `inline_bytes` (at most kInlineMessageBytes). The status message and metadata travel in a
// metadata block when there are any, and are dropped if the pool has no room for it.
inline void EncodeResponse(BufferCache* cache, uint64_t client, uint64_t call_id,
                           const Status& status, MessageBuffer* buffer,
                           std::string_view inline_bytes, const Metadata& initial_metadata,
                           const Metadata& trailing_metadata, Message* message);

// Reads a response: its code into `*code`, status message, initial metadata, trailers and
// payload into the others. Checks in the order of DecodeError; on an error, the blocks not yet
// taken are left for the caller to discard (the metadata block is taken only once it decoded).
inline DecodeError DecodeResponse(BufferCache* cache, const Message& response, StatusCode* code,
                                  std::string* status_message, Metadata* initial_metadata,
                                  Metadata* trailing_metadata, ReceivedMessage* payload);

// Gives back the blocks of a message this side encoded and never sent.
void ReleaseEncoded(BufferCache* cache, const Message& message);

// The functions above handle the messages of most calls, with no pool block (an inline payload,
// no metadata), inline: every call makes each of them, and an out-of-line call apiece measured
// about 2% of a small call's latency. The general cases below take or publish blocks.

// Puts `bytes` (at most kInlineMessageBytes) in the descriptor itself.
inline void EncodeInlinePayload(std::string_view bytes, Message* message) {
  message->inline_length = static_cast<uint16_t>(bytes.size());
  if (!bytes.empty()) std::memcpy(message->payload.inline_bytes, bytes.data(), bytes.size());
}

// True if `message` names no block, lost none, and its inline length is valid.
inline bool IsBlockFree(const Message& message) {
  return (message.flags & (kPayloadInBlock | kHasMetadata | kMetadataDropped)) == 0 &&
         message.inline_length <= kInlineMessageBytes;
}

// EncodeRequest for a payload in a block or metadata to send.
Status EncodeRequestWithBlocks(BufferCache* cache, uint64_t server, OutgoingPayload payload,
                               const Metadata& headers, uint64_t call_token, Message* message);

// DecodeRequest for a request that names a block or is invalid.
const char* DecodeRequestWithBlocks(BufferCache* cache, const Message& request,
                                    ReceivedMessage* payload, Metadata* headers);

// TakeCallToken for headers that are not empty.
bool FindCallToken(Metadata* headers, uint64_t* token);

// EncodeResponse for a payload in a block or metadata to send.
void EncodeResponseWithBlocks(BufferCache* cache, uint64_t client, const Status& status,
                              MessageBuffer* buffer, std::string_view inline_bytes,
                              const Metadata& initial_metadata, const Metadata& trailing_metadata,
                              Message* message);

// DecodeResponse for a response that names a block or is invalid.
DecodeError DecodeResponseWithBlocks(BufferCache* cache, const Message& response, StatusCode* code,
                                     std::string* status_message, Metadata* initial_metadata,
                                     Metadata* trailing_metadata, ReceivedMessage* payload);

inline Status EncodeRequest(BufferCache* cache, uint64_t server, uint32_t method,
                            uint64_t timeout_ns, OutgoingPayload payload, const Metadata& headers,
                            uint64_t call_token, Message* message) {
  message->code = method;
  message->flags = static_cast<uint16_t>(DescriptorKind::kRequest);
  message->timeout_ns = timeout_ns;
  if (payload.buffer == nullptr && payload.bytes.size() <= kInlineMessageBytes && call_token == 0 &&
      headers.empty()) {
    EncodeInlinePayload(payload.bytes, message);
    return Status();
  }
  return EncodeRequestWithBlocks(cache, server, payload, headers, call_token, message);
}

inline const char* DecodeRequest(BufferCache* cache, const Message& request,
                                 ReceivedMessage* payload, Metadata* headers) {
  if (request.kind() == DescriptorKind::kRequest && IsBlockFree(request)) {
    BufferCache::InlineMessage(request.payload.inline_bytes, request.inline_length, payload);
    return nullptr;
  }
  return DecodeRequestWithBlocks(cache, request, payload, headers);
}

inline std::chrono::steady_clock::time_point RequestDeadline(const Message& request) {
  using Clock = std::chrono::steady_clock;
  if (request.timeout_ns == 0) return Clock::time_point::max();
  auto now = Clock::now();
  auto room = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::time_point::max() - now);
  if (request.timeout_ns >= static_cast<uint64_t>(room.count())) return Clock::time_point::max();
  return now + std::chrono::nanoseconds(request.timeout_ns);
}

inline bool TakeCallToken(Metadata* headers, uint64_t* token) {
  return !headers->empty() && FindCallToken(headers, token);
}

inline void EncodeResponse(BufferCache* cache, uint64_t client, uint64_t call_id,
                           const Status& status, MessageBuffer* buffer,
                           std::string_view inline_bytes, const Metadata& initial_metadata,
                           const Metadata& trailing_metadata, Message* message) {
  message->call_id = call_id;
  message->flags = static_cast<uint16_t>(DescriptorKind::kResponse);
  message->code = static_cast<uint32_t>(status.error_code());
  bool in_buffer = status.ok() && buffer != nullptr && buffer->valid();
  if (!in_buffer && inline_bytes.size() <= kInlineMessageBytes && status.error_message().empty() &&
      initial_metadata.empty() && trailing_metadata.empty()) {
    if (status.ok()) EncodeInlinePayload(inline_bytes, message);
    return;
  }
  EncodeResponseWithBlocks(cache, client, status, buffer, inline_bytes, initial_metadata,
                           trailing_metadata, message);
}

inline DecodeError DecodeResponse(BufferCache* cache, const Message& response, StatusCode* code,
                                  std::string* status_message, Metadata* initial_metadata,
                                  Metadata* trailing_metadata, ReceivedMessage* payload) {
  if (IsBlockFree(response) && IsValidStatusCode(static_cast<int>(response.code))) {
    *code = static_cast<StatusCode>(response.code);
    BufferCache::InlineMessage(response.payload.inline_bytes, response.inline_length, payload);
    return DecodeError::kNone;
  }
  return DecodeResponseWithBlocks(cache, response, code, status_message, initial_metadata,
                                  trailing_metadata, payload);
}

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_CALL_CODEC_H_
