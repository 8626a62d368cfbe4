#include "rpc/call_codec.h"

#include <cstring>
#include <iterator>

#include "rpc/metadata_codec.h"

namespace notnets::internal {

namespace {

// Puts `payload` inline or in a block published to `reader`.
Status EncodePayload(BufferCache* cache, uint64_t reader, OutgoingPayload payload,
                     Message* message) {
  if (payload.buffer != nullptr) {
    if (!payload.buffer->valid()) {
      return Status(StatusCode::INVALID_ARGUMENT,
                    "the request buffer is empty; obtain it from Channel::AllocateMessage");
    }
    message->flags |= kPayloadInBlock;
    message->payload.block = cache->Publish(payload.buffer, reader);
    return Status();
  }
  if (payload.bytes.size() <= kInlineMessageBytes) {
    EncodeInlinePayload(payload.bytes, message);
    return Status();
  }
  uint64_t block;
  Status status = cache->AllocateBlock(payload.bytes.size(), &block);
  if (!status.ok()) return status;
  // The bytes may come from a received message; see ServerResponse::Copy.
  std::memmove(cache->PayloadOf(block), payload.bytes.data(), payload.bytes.size());
  cache->PublishBlock(block, payload.bytes.size(), reader);
  message->flags |= kPayloadInBlock;
  message->payload.block = BlockPayload{block, payload.bytes.size()};
  return Status();
}

// Puts `set` in a metadata block published to `reader`.
Status EncodeMetadataBlock(BufferCache* cache, uint64_t reader, const MetadataSet& set,
                           Message* message) {
  uint64_t bytes = EncodedMetadataBytes(set);
  uint64_t block;
  uint8_t* data;
  Status status = cache->AllocateMetadata(bytes, &block, &data);
  if (!status.ok()) return status;
  EncodeMetadata(set, data);
  cache->PublishMetadata(block, bytes, reader);
  message->flags |= kHasMetadata;
  message->metadata_offset = block;
  return Status();
}

// Puts request headers in a metadata block published to `server`; on failure gives the payload
// block back too.
Status EncodeHeaders(BufferCache* cache, uint64_t server, const Metadata& headers,
                     Message* message) {
  MetadataSet set;
  set.sections[static_cast<int>(MetadataSection::kRequest)] = &headers;
  Status status = EncodeMetadataBlock(cache, server, set, message);
  if (!status.ok()) ReleaseEncoded(cache, *message);
  return status;
}

// Takes the payload the peer sent, inline or in a block.
DecodeError DecodePayload(BufferCache* cache, const Message& message, ReceivedMessage* payload) {
  if (message.flags & kPayloadInBlock) {
    return cache->AdoptMessage(message.payload.block, payload) ? DecodeError::kNone
                                                               : DecodeError::kPayloadBlock;
  }
  if (message.inline_length > kInlineMessageBytes) return DecodeError::kInlineLength;
  BufferCache::InlineMessage(message.payload.inline_bytes, message.inline_length, payload);
  return DecodeError::kNone;
}

// Takes, decodes and releases the metadata block the peer sent.
DecodeError DecodeMetadataBlock(BufferCache* cache, const Message& message,
                                std::string* status_message,
                                Metadata* const sections[kMetadataSectionCount]) {
  uint64_t capacity = 0;
  const uint8_t* bytes = cache->AdoptWhole(message.metadata_offset, &capacity);
  if (bytes == nullptr) return DecodeError::kMetadataBlock;
  bool decoded = DecodeMetadata(bytes, capacity, status_message, sections);
  cache->ReleaseReceived(message.metadata_offset);
  return decoded ? DecodeError::kNone : DecodeError::kMetadataEncoding;
}

}  // namespace

const char* DecodeErrorName(DecodeError error) {
  // In the order of DecodeError.
  static constexpr const char* kNames[] = {"none",        "metadata block", "metadata encoding",
                                           "status code", "payload block",  "inline length"};
  static_assert(std::size(kNames) == static_cast<size_t>(DecodeError::kInlineLength) + 1);
  return kNames[static_cast<int>(error)];
}

Status EncodeRequestWithBlocks(BufferCache* cache, uint64_t server, OutgoingPayload payload,
                               const Metadata& headers, uint64_t call_token, Message* message) {
  Status status = EncodePayload(cache, server, payload, message);
  if (!status.ok()) return status;
  if (call_token != 0) {
    Metadata with_token = headers;
    with_token.emplace(kCallTokenKey,
                       std::string(reinterpret_cast<const char*>(&call_token), sizeof(call_token)));
    return EncodeHeaders(cache, server, with_token, message);
  }
  if (headers.empty()) return Status();
  return EncodeHeaders(cache, server, headers, message);
}

const char* DecodeRequestWithBlocks(BufferCache* cache, const Message& request,
                                    ReceivedMessage* payload, Metadata* headers) {
  bool is_request = request.kind() == DescriptorKind::kRequest;
  DecodeError payload_error =
      is_request ? DecodePayload(cache, request, payload) : DecodeError::kNone;
  DecodeError metadata_error = DecodeError::kNone;
  if (request.flags & kHasMetadata) {
    Metadata* sections[kMetadataSectionCount] = {headers, nullptr, nullptr};
    metadata_error = DecodeMetadataBlock(cache, request, nullptr, sections);
  }
  if (!is_request) return "a descriptor that is not a request";
  if (payload_error == DecodeError::kPayloadBlock) return "an invalid payload block";
  if (payload_error == DecodeError::kInlineLength) return "an invalid inline length";
  if (metadata_error != DecodeError::kNone) return "an invalid metadata block";
  return nullptr;
}

bool FindCallToken(Metadata* headers, uint64_t* token) {
  auto entry = headers->find(kCallTokenKey);
  if (entry == headers->end()) return false;
  bool valid = entry->second.size() == sizeof(*token);
  if (valid) std::memcpy(token, entry->second.data(), sizeof(*token));
  headers->erase(entry);
  return valid && *token != 0;
}

void EncodeResponseWithBlocks(BufferCache* cache, uint64_t client, const Status& status,
                              MessageBuffer* buffer, std::string_view inline_bytes,
                              const Metadata& initial_metadata, const Metadata& trailing_metadata,
                              Message* message) {
  if (status.ok()) {
    // A valid buffer is published, and inline bytes go in the descriptor or a block of their
    // own; only the latter can fail, and then the call still gets its code.
    bool in_buffer = buffer != nullptr && buffer->valid();
    EncodePayload(cache, client, OutgoingPayload{inline_bytes, in_buffer ? buffer : nullptr},
                  message);
  }
  if (status.error_message().empty() && initial_metadata.empty() && trailing_metadata.empty()) {
    return;
  }
  MetadataSet set;
  set.status_message = &status.error_message();
  set.sections[static_cast<int>(MetadataSection::kInitial)] = &initial_metadata;
  set.sections[static_cast<int>(MetadataSection::kTrailing)] = &trailing_metadata;
  // No room: the call still gets its code, and its caller learns why it has no message.
  if (!EncodeMetadataBlock(cache, client, set, message).ok()) message->flags |= kMetadataDropped;
}

DecodeError DecodeResponseWithBlocks(BufferCache* cache, const Message& response, StatusCode* code,
                                     std::string* status_message, Metadata* initial_metadata,
                                     Metadata* trailing_metadata, ReceivedMessage* payload) {
  if (response.flags & kHasMetadata) {
    Metadata* sections[kMetadataSectionCount] = {nullptr, initial_metadata, trailing_metadata};
    DecodeError error = DecodeMetadataBlock(cache, response, status_message, sections);
    if (error != DecodeError::kNone) return error;
  }
  if (!IsValidStatusCode(static_cast<int>(response.code))) return DecodeError::kStatusCode;
  *code = static_cast<StatusCode>(response.code);
  // Metadata the server had to drop fails an answer that was OK: its caller would otherwise take
  // a response without the initial or trailing metadata the handler sent for a whole one.
  if (response.flags & kMetadataDropped) {
    if (*code == StatusCode::OK) *code = StatusCode::RESOURCE_EXHAUSTED;
    *status_message =
        "the server had no room for this call's status message and metadata: its arena on this "
        "connection is full of responses not yet released; release received messages sooner, or "
        "raise ChannelOptions::connection_arena_bytes";
  }
  return DecodePayload(cache, response, payload);
}

void ReleaseEncoded(BufferCache* cache, const Message& message) {
  if (message.flags & kPayloadInBlock) cache->Release(message.payload.block.block_offset);
  if (message.flags & kHasMetadata) cache->Release(message.metadata_offset);
}

}  // namespace notnets::internal
