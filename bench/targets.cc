// The targets of issue #5 and of the gRPC integration (issues #3 and #12), computed from one run's
// figures. Reported, never asserted.
#include <algorithm>

#include "all_sections.h"

namespace notnets::bench {
namespace {

const char* Verdict(bool met) { return met ? "met" : "not met"; }

// The headings above the targets' lines, each printed before the first line under it, so that a
// run of some sections only (`--sections`) prints no heading without lines.
class Headings {
 public:
  explicit Headings(FILE* out) : out_(out) {}
  // The group the next lines belong to; its heading waits for its first line.
  void Group(const char* heading) { group_ = heading; }
  // Prints the headings not printed yet; returns the stream to print a line on.
  FILE* Line() {
    if (!title_printed_) {
      std::fprintf(out_, "\nTargets (measured in this run; reported, not asserted):\n");
      title_printed_ = true;
    }
    if (group_ != nullptr) std::fprintf(out_, " %s:\n", group_);
    group_ = nullptr;
    return out_;
  }

 private:
  FILE* out_;
  bool title_printed_ = false;
  const char* group_ = nullptr;
};

// The row of `sweep` for case `name` at `x`, or nullptr.
const SweepRow* Row(const Sweep* sweep, const std::string& name, double x) {
  if (sweep == nullptr) return nullptr;
  for (const SweepRow& row : sweep->rows) {
    if (row.case_name == name && row.x == x) return &row;
  }
  return nullptr;
}

// The result of case `name` in a main table, or nullptr.
const Measurement* Main(const std::vector<CaseResult>& results, const std::string& name) {
  for (const CaseResult& result : results) {
    if (result.name == name) return &result.measurement;
  }
  return nullptr;
}

void SizeTarget(const AllResults& results, const std::string& name, Headings* out) {
  const Sweep* size = FindSweep(results, "size");
  const SweepRow* small = Row(size, name, 64);
  const SweepRow* large = Row(size, name, 1024 * 1024);
  if (small == nullptr || large == nullptr) return;
  double ratio = large->measurement.latency.p50_us / small->measurement.latency.p50_us;
  std::fprintf(out->Line(),
               "  %-30s 1 MiB p50 %.3f us / 64 B p50 %.3f us = %.1fx (target <= 3x: %s)\n",
               name.c_str(), large->measurement.latency.p50_us, small->measurement.latency.p50_us,
               ratio, Verdict(ratio <= 3));
}

void PipelineTarget(const AllResults& results, const std::string& name, Headings* out) {
  const Sweep* pipeline = FindSweep(results, "pipeline");
  const SweepRow* one = Row(pipeline, name, 1);
  if (one == nullptr) return;
  const SweepRow* best = one;
  for (const SweepRow& row : pipeline->rows) {
    if (row.case_name == name &&
        row.measurement.latency.calls_per_s > best->measurement.latency.calls_per_s) {
      best = &row;
    }
  }
  std::fprintf(out->Line(),
               "  %-30s peak %.0f calls/s at %g outstanding (1 outstanding: %.0f calls/s)\n",
               name.c_str(), best->measurement.latency.calls_per_s, best->x,
               one->measurement.latency.calls_per_s);
}

void VersusTarget(const AllResults& results, const std::string& other, Headings* out) {
  const Measurement* native = Main(results.main, "notnets-native");
  const Measurement* them = Main(results.main, other);
  if (native == nullptr || them == nullptr) return;
  double ratio = them->latency.p50_us / native->latency.p50_us;
  std::fprintf(out->Line(), "  notnets-native p50 %.3f us, %s p50 %.3f us: notnets x %.1f %s\n",
               native->latency.p50_us, other.c_str(), them->latency.p50_us,
               ratio >= 1 ? ratio : 1 / ratio, ratio >= 1 ? "faster" : "slower");
}

}  // namespace

void PrintGrpcTargets(const std::vector<CaseResult>& results, FILE* out) {
  // Issue #12's unary targets: how many times lower than grpc-http2-tcp's each p50 must be.
  static constexpr struct {
    const char* name;
    double lower;
  } kUnary[] = {{"notnets-grpc-sync", 20}, {"notnets-grpc-callback", 10}, {"notnets-grpc-cq", 10}};
  // Issue #12's stream target: at least 10 times HTTP/2's messages per second.
  static constexpr struct {
    const char* pool;
    const char* http2;
  } kStreams[] = {{"notnets-grpc-stream", "grpc-http2-tcp-stream"},
                  {"notnets-grpc-stream-bidi", "grpc-http2-tcp-stream-bidi"}};
  const Measurement* sync = Main(results, "notnets-grpc-sync");
  const Measurement* http2 = Main(results, "grpc-http2-tcp");
  bool any = sync != nullptr;
  for (const auto& unary : kUnary) any = any || (http2 != nullptr && Main(results, unary.name));
  for (const auto& stream : kStreams) {
    any = any || (Main(results, stream.pool) && Main(results, stream.http2));
  }
  if (!any) return;
  std::fprintf(out, "\ngRPC integration targets (measured in this run; reported, not asserted):\n");
  if (sync != nullptr) {
    const LatencySummary& l = sync->latency;
    std::fprintf(
        out,
        "  notnets-grpc-sync p50 %.3f us (target <= 3 us: %s), p99 %.3f us (target <= 8 us: %s)\n",
        l.p50_us, Verdict(l.p50_us <= 3), l.p99_us, Verdict(l.p99_us <= 8));
  }
  for (const auto& unary : kUnary) {
    const Measurement* pool = Main(results, unary.name);
    if (pool == nullptr || http2 == nullptr) continue;
    double p50_ratio = http2->latency.p50_us / pool->latency.p50_us;
    double p99_ratio = http2->latency.p99_us / pool->latency.p99_us;
    std::fprintf(out,
                 "  %-26s p50 %.1fx lower than grpc-http2-tcp (target >= %gx: %s), p99 %.1fx "
                 "lower\n",
                 unary.name, p50_ratio, unary.lower, Verdict(p50_ratio >= unary.lower), p99_ratio);
  }
  for (const auto& stream : kStreams) {
    const Measurement* pool = Main(results, stream.pool);
    const Measurement* them = Main(results, stream.http2);
    if (pool == nullptr || them == nullptr) continue;
    double ratio = pool->latency.calls_per_s / them->latency.calls_per_s;
    std::fprintf(out, "  %-26s %.0f messages/s, %.1fx %s's %.0f (target >= 10x: %s)\n", stream.pool,
                 pool->latency.calls_per_s, ratio, stream.http2, them->latency.calls_per_s,
                 Verdict(ratio >= 10));
  }
}

void PrintPlacementTargets(const std::vector<CaseResult>& results, FILE* out) {
  // Issue #11: emulated hosts within 1.2x of one host; issue #14: cache maintenance within 3x.
  static constexpr struct {
    const char* name;
    const char* against;
    double within;
  } kTargets[] = {{"notnets-native-hosts", "notnets-native", 1.2},
                  {"notnets-native-noncoherent", "notnets-native", 3},
                  {"notnets-native-hosts-noncoherent", "notnets-native-hosts", 3}};
  bool header = false;
  for (const auto& target : kTargets) {
    const Measurement* measured = Main(results, target.name);
    const Measurement* against = Main(results, target.against);
    if (measured == nullptr || against == nullptr) continue;
    if (!header) {
      std::fprintf(out, "\nPlacement targets (measured in this run; reported, not asserted):\n");
      header = true;
    }
    double ratio = measured->latency.p50_us / against->latency.p50_us;
    std::fprintf(out, "  %-34s p50 %.3f us, %.2fx %s's %.3f us (target <= %gx: %s)\n", target.name,
                 measured->latency.p50_us, ratio, target.against, against->latency.p50_us,
                 target.within, Verdict(ratio <= target.within));
  }
}

void PrintTargets(const AllResults& results, FILE* out) {
  Headings headings(out);
  headings.Group("zero-copy echo, 1 MiB against 64 B");
  for (const char* name : {"notnets-native-zerocopy", "notnets-native-zerocopy-stamp"}) {
    SizeTarget(results, name, &headings);
  }
  headings.Group("pipelined throughput, one client thread, one server worker");
  for (const char* name : {"notnets-native", "grpc-http2-tcp-callback"}) {
    PipelineTarget(results, name, &headings);
  }
  headings.Group("notnets against other shared-memory and RPC systems");
  for (const char* name : {"iceoryx-reqres", "capnp-rpc-uds", "grpc-http2-tcp"}) {
    VersusTarget(results, name, &headings);
  }
  headings.Group(nullptr);
  const Sweep* idle = FindSweep(results, "idleconns");
  const SweepRow* one = Row(idle, "notnets-native", 1);
  const SweepRow* many = Row(idle, "notnets-native", 10000);
  if (one != nullptr && many != nullptr) {
    std::fprintf(headings.Line(),
                 " idle connections: p50 %.3f us with 1, %.3f us with 10,000 (%.1fx); p99 %.3f "
                 "-> %.3f us\n",
                 one->measurement.latency.p50_us, many->measurement.latency.p50_us,
                 many->measurement.latency.p50_us / one->measurement.latency.p50_us,
                 one->measurement.latency.p99_us, many->measurement.latency.p99_us);
  }
  PrintGrpcTargets(results.main, out);
  PrintPlacementTargets(results.main, out);
}

}  // namespace notnets::bench
