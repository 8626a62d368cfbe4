// Status of an RPC: a code numbered and named as gRPC's, and a message for humans.
#ifndef NOTNETS_STATUS_H_
#define NOTNETS_STATUS_H_

#include <string>
#include <string_view>

namespace notnets {

// The canonical gRPC status codes, with gRPC's numbers, so that a code crosses unchanged between
// notnets and grpc::StatusCode.
enum class StatusCode : int {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
};

// Returns the gRPC name of `code` ("DEADLINE_EXCEEDED"), or "UNKNOWN_CODE" for a value outside
// the canonical range.
const char* StatusCodeName(StatusCode code);

// Returns true if `value` is one of the canonical codes above. Inline: every received response
// is checked with it.
inline bool IsValidStatusCode(int value) {
  return value >= 0 && value <= static_cast<int>(StatusCode::UNAUTHENTICATED);
}

// The outcome of an operation. Cheap to copy when OK (no allocation).
class Status {
 public:
  // An OK status.
  Status() = default;
  // A status with `code` and `message`; the message should say what happened and what to do.
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  // The OK status, for returning by reference.
  static const Status& OK;

  // True if the code is OK.
  bool ok() const { return code_ == StatusCode::OK; }
  // The code, as grpc::Status::error_code().
  StatusCode error_code() const { return code_; }
  // What happened and what to do; empty for OK.
  const std::string& error_message() const { return message_; }

  // "OK", or "<CODE_NAME>: <message>".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::OK;
  std::string message_;
};

}  // namespace notnets

#endif  // NOTNETS_STATUS_H_
