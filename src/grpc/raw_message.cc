#include "grpc/raw_message.h"

#include <google/protobuf/arena.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/parse_context.h>

namespace notnets::grpc::internal {

::google::protobuf::MessageLite* RawMessage::New(::google::protobuf::Arena* arena) const {
  // Never asked for on an arena by notnets; one given is honoured all the same.
  return ::google::protobuf::Arena::Create<RawMessage>(arena);
}

void RawMessage::CheckTypeAndMergeFrom(const MessageLite& other) {
  // Merging two encodings is appending them, as for protobuf's own wire format.
  bytes_ += static_cast<const RawMessage&>(other).bytes_;
}

uint8_t* RawMessage::_InternalSerialize(uint8_t* ptr,
                                        ::google::protobuf::io::EpsCopyOutputStream* stream) const {
  return stream->WriteRaw(bytes_.data(), static_cast<int>(bytes_.size()), ptr);
}

const char* RawMessage::_InternalParse(const char* ptr,
                                       ::google::protobuf::internal::ParseContext* context) {
  // Every byte up to the end of the input is the message.
  return context->AppendString(ptr, context->BytesUntilLimit(ptr), &bytes_);
}

}  // namespace notnets::grpc::internal
