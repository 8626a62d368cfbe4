// The call encoding, both directions: how a call's method, deadline, headers and payload go into
// a descriptor and the pool blocks it names, how a response's status, metadata and payload do,
// and how each is read back. The one home of the wire format above the ring (protocol.md
// sections 5 and 6); the client encodes requests and decodes responses, the server the reverse.
#ifndef NOTNETS_RPC_CALL_CODEC_H_
#define NOTNETS_RPC_CALL_CODEC_H_

#include <chrono>
#include <cstdint>
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
Status EncodeRequest(BufferCache* cache, uint64_t server, uint32_t method, uint64_t timeout_ns,
                     OutgoingPayload payload, const Metadata& headers, uint64_t call_token,
                     Message* message);

// Reads a request: its payload into `payload` and its headers into `headers`. Returns what about
// it broke the protocol, in the words of the server's error message, or nullptr. Both blocks are
// taken before either is judged, so that neither leaks when the other is invalid.
const char* DecodeRequest(BufferCache* cache, const Message& request, ReceivedMessage* payload,
                          Metadata* headers);

// The deadline a request carries, measured from now; time_point::max() for none (also for a
// timeout the clock cannot add, which only a faulty client sends). Reads the clock only if there
// is a timeout.
std::chrono::steady_clock::time_point RequestDeadline(const Message& request);

// Takes an at-most-once call's token out of decoded request headers; false if there is none.
bool TakeCallToken(Metadata* headers, uint64_t* token);

// Encodes the response to call `call_id` into `message`, its blocks published to endpoint
// `client`: the payload (sent only with an OK status) is `buffer` when given and valid, else
// `inline_bytes` (at most kInlineMessageBytes). The status message and metadata travel in a
// metadata block when there are any, and are dropped if the pool has no room for it.
void EncodeResponse(BufferCache* cache, uint64_t client, uint64_t call_id, const Status& status,
                    MessageBuffer* buffer, std::string_view inline_bytes,
                    const Metadata& initial_metadata, const Metadata& trailing_metadata,
                    Message* message);

// Reads a response: its code into `*code`, status message, initial metadata, trailers and
// payload into the others. Checks in the order of DecodeError; on an error, the blocks not yet
// taken are left for the caller to discard (the metadata block is taken only once it decoded).
DecodeError DecodeResponse(BufferCache* cache, const Message& response, StatusCode* code,
                           std::string* status_message, Metadata* initial_metadata,
                           Metadata* trailing_metadata, ReceivedMessage* payload);

// Gives back the blocks of a message this side encoded and never sent.
void ReleaseEncoded(BufferCache* cache, const Message& message);

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_CALL_CODEC_H_
