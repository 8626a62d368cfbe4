// What the parity and stranger suites compare: a scenario runs once over the pool and once over
// HTTP/2, describes what its calls saw (statuses, metadata, messages) as text, and the two
// descriptions must be equal.
#ifndef NOTNETS_TESTS_GRPC_COMPARISON_H_
#define NOTNETS_TESTS_GRPC_COMPARISON_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "notnets/grpc/channel.h"

namespace notnets::grpc_test {

// The path a scenario's channel takes.
enum class Path { kPool, kHttp2 };

// A status's code, message and details.
inline std::string Describe(const ::grpc::Status& status) {
  return "status " + std::to_string(status.error_code()) + " \"" + status.error_message() +
         "\" details " + std::to_string(status.error_details().size()) + ":" +
         status.error_details();
}

// The entries whose keys start with "x-", in order.
inline std::string Describe(const std::multimap<::grpc::string_ref, ::grpc::string_ref>& metadata) {
  std::string out;
  for (const auto& [key, value] : metadata) {
    std::string k(key.data(), key.size());
    if (k.starts_with("x-")) out += k + "=" + std::string(value.data(), value.size()) + ";";
  }
  return out;
}

// The server's initial and trailing metadata a finished call's context holds.
inline std::string DescribeMetadata(const ::grpc::ClientContext& context) {
  return " initial{" + Describe(context.GetServerInitialMetadata()) + "} trailing{" +
         Describe(context.GetServerTrailingMetadata()) + "}";
}

inline void SetDeadline(::grpc::ClientContext* context, std::chrono::milliseconds timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

// A deadline only a call that hangs reaches.
inline void SetHangDeadline(::grpc::ClientContext* context) {
  SetDeadline(context, std::chrono::seconds(20));
}

// Expects every call of `channel` to have gone the way `path` says.
inline void ExpectCallsWent(Path path, const ::grpc::Channel& channel) {
  notnets::grpc::PathCounters counters = notnets::grpc::GetPathCounters(channel);
  if (path == Path::kPool) {
    EXPECT_GT(counters.pool_calls, 0u);
    EXPECT_EQ(counters.http2_calls, 0u) << "a call of the pool case missed the pool";
  } else {
    EXPECT_EQ(counters.pool_calls, 0u);
  }
}

}  // namespace notnets::grpc_test

#endif  // NOTNETS_TESTS_GRPC_COMPARISON_H_
