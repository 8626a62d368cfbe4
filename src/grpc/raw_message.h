// A message whose bytes are carried as they are: the pool side of a call whose message type it
// does not know (a generic service's, or a service the server knows only by name, such as
// reflection), which may not even be protobuf.
#ifndef NOTNETS_GRPC_RAW_MESSAGE_H_
#define NOTNETS_GRPC_RAW_MESSAGE_H_

#include <google/protobuf/message_lite.h>

#include <string>

namespace notnets::grpc::internal {

// Parsing keeps every byte and serializing writes them back unchanged, so that the stream and
// bridge code written for typed messages carries untyped ones too.
class RawMessage final : public ::google::protobuf::MessageLite {
 public:
  const std::string& bytes() const { return bytes_; }

  std::string GetTypeName() const override { return "raw bytes"; }
  MessageLite* New(::google::protobuf::Arena* arena) const override;
  void Clear() override { bytes_.clear(); }
  bool IsInitialized() const override { return true; }
  void CheckTypeAndMergeFrom(const MessageLite& other) override;
  size_t ByteSizeLong() const override { return bytes_.size(); }
  int GetCachedSize() const override { return static_cast<int>(bytes_.size()); }
  uint8_t* _InternalSerialize(uint8_t* ptr,
                              ::google::protobuf::io::EpsCopyOutputStream* stream) const override;
  const char* _InternalParse(const char* ptr,
                             ::google::protobuf::internal::ParseContext* context) override;

 private:
  std::string bytes_;
};

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_RAW_MESSAGE_H_
