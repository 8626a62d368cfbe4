#include "notnets/status.h"

#include <iterator>

namespace notnets {

namespace {

constexpr const char* kCodeNames[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

static_assert(std::size(kCodeNames) == static_cast<size_t>(StatusCode::UNAUTHENTICATED) + 1,
              "a name for every canonical code, and IsValidStatusCode's range");

const Status kOk;

}  // namespace

const Status& Status::OK = kOk;

const char* StatusCodeName(StatusCode code) {
  int value = static_cast<int>(code);
  return IsValidStatusCode(value) ? kCodeNames[value] : "UNKNOWN_CODE";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(code_)) + ": " + message_;
}

}  // namespace notnets
