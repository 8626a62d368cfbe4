// Runs the four RouteGuide methods through stock gRPC stubs with the synchronous API, and prints
// what comes back. Only the channel is notnets': the calls go through the memory pool when a
// RouteGuide serves there with the callback API, and over HTTP/2 to ADDRESS otherwise.
//
//   route_guide_client [ADDRESS]      (default localhost:50051)
//
// The pool is $NOTNETS_POOL, else "default".
#include <grpcpp/grpcpp.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "notnets/grpc/channel.h"
#include "route_guide.grpc.pb.h"

namespace {

using routeguide::Feature;
using routeguide::Point;
using routeguide::Rectangle;
using routeguide::RouteGuide;
using routeguide::RouteNote;
using routeguide::RouteSummary;

constexpr double kE7 = 1e7;

Point MakePoint(double latitude, double longitude) {
  Point point;
  point.set_latitude(static_cast<int32_t>(std::lround(latitude * kE7)));
  point.set_longitude(static_cast<int32_t>(std::lround(longitude * kE7)));
  return point;
}

std::string Describe(const Point& point) {
  char text[64];
  std::snprintf(text, sizeof(text), "(%.1f, %.1f)", point.latitude() / kE7,
                point.longitude() / kE7);
  return text;
}

// Prints a failed call; returns whether `status` is OK.
bool Check(const char* method, const grpc::Status& status) {
  if (!status.ok()) {
    std::fprintf(stderr, "route_guide_client: %s failed: %d %s\n", method, status.error_code(),
                 status.error_message().c_str());
  }
  return status.ok();
}

bool GetFeature(RouteGuide::Stub* stub, const Point& point) {
  grpc::ClientContext context;
  Feature feature;
  if (!Check("GetFeature", stub->GetFeature(&context, point, &feature))) return false;
  if (feature.name().empty()) {
    std::printf("GetFeature: no feature at %s\n", Describe(point).c_str());
  } else {
    std::printf("GetFeature: \"%s\" at %s\n", feature.name().c_str(),
                Describe(feature.location()).c_str());
  }
  return true;
}

bool ListFeatures(RouteGuide::Stub* stub, const Point& lo, const Point& hi) {
  Rectangle rectangle;
  *rectangle.mutable_lo() = lo;
  *rectangle.mutable_hi() = hi;
  std::printf("ListFeatures: features between %s and %s\n", Describe(lo).c_str(),
              Describe(hi).c_str());
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<Feature>> reader = stub->ListFeatures(&context, rectangle);
  Feature feature;
  while (reader->Read(&feature)) {
    std::printf("  \"%s\" at %s\n", feature.name().c_str(), Describe(feature.location()).c_str());
  }
  return Check("ListFeatures", reader->Finish());
}

bool RecordRoute(RouteGuide::Stub* stub, const std::vector<Point>& route) {
  grpc::ClientContext context;
  RouteSummary summary;
  std::unique_ptr<grpc::ClientWriter<Point>> writer = stub->RecordRoute(&context, &summary);
  for (const Point& point : route) {
    std::printf("RecordRoute: visiting %s\n", Describe(point).c_str());
    // A failed write means the call is over; Finish says why.
    if (!writer->Write(point)) break;
  }
  writer->WritesDone();
  if (!Check("RecordRoute", writer->Finish())) return false;
  std::printf("RecordRoute: %d points, %d features, %d m, %d s\n", summary.point_count(),
              summary.feature_count(), summary.distance(), summary.elapsed_time());
  return true;
}

bool RouteChat(RouteGuide::Stub* stub, const std::vector<RouteNote>& notes) {
  grpc::ClientContext context;
  std::shared_ptr<grpc::ClientReaderWriter<RouteNote, RouteNote>> stream =
      stub->RouteChat(&context);
  // gRPC lets one thread write while another reads the same stream.
  std::thread writer([&stream, &notes] {
    for (const RouteNote& note : notes) {
      std::printf("RouteChat: leaving \"%s\" at %s\n", note.message().c_str(),
                  Describe(note.location()).c_str());
      if (!stream->Write(note)) break;
    }
    stream->WritesDone();
  });
  RouteNote note;
  while (stream->Read(&note)) {
    std::printf("RouteChat: got \"%s\" left earlier at %s\n", note.message().c_str(),
                Describe(note.location()).c_str());
  }
  writer.join();
  return Check("RouteChat", stream->Finish());
}

RouteNote MakeNote(const std::string& message, const Point& location) {
  RouteNote note;
  note.set_message(message);
  *note.mutable_location() = location;
  return note;
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = argc > 1 ? argv[1] : "localhost:50051";
  std::shared_ptr<grpc::Channel> channel =
      notnets::grpc::CreateChannel(address, notnets::grpc::ChannelOptions());
  std::unique_ptr<RouteGuide::Stub> stub = RouteGuide::NewStub(channel);

  bool ok = GetFeature(stub.get(), MakePoint(40.1, -74.0)) &&
            GetFeature(stub.get(), MakePoint(40.5, -73.5)) &&
            ListFeatures(stub.get(), MakePoint(40.0, -74.0), MakePoint(40.2, -73.8)) &&
            RecordRoute(stub.get(),
                        {MakePoint(40.0, -74.0), MakePoint(40.0, -73.9), MakePoint(40.1, -73.9),
                         MakePoint(40.2, -73.9), MakePoint(40.2, -73.8), MakePoint(40.3, -73.8)}) &&
            RouteChat(stub.get(), {MakeNote("first", MakePoint(40.0, -74.0)),
                                   MakeNote("second", MakePoint(40.0, -73.9)),
                                   MakeNote("third", MakePoint(40.0, -74.0)),
                                   MakeNote("fourth", MakePoint(40.0, -73.9))});

  notnets::grpc::PathCounters paths = notnets::grpc::GetPathCounters(*channel);
  std::printf("calls through the pool: %" PRIu64 ", over HTTP/2: %" PRIu64 "\n", paths.pool_calls,
              paths.http2_calls);
  return ok ? 0 : 1;
}
