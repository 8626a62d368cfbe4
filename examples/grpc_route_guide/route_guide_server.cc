// A RouteGuide server with gRPC's callback API: a reactor per call, for the unary and the three
// streaming methods. It listens on a TCP port as any gRPC server does, and, through the one
// notnets line, also serves all four methods to clients in the same memory pool.
//
//   route_guide_server [ADDRESS]      (default localhost:50051; port 0 picks a free one)
//
// The pool is $NOTNETS_POOL, else "default"; it is created if it does not exist.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "notnets/grpc/server.h"
#include "route_guide.grpc.pb.h"

namespace {

using routeguide::Feature;
using routeguide::Point;
using routeguide::Rectangle;
using routeguide::RouteNote;
using routeguide::RouteSummary;

constexpr double kE7 = 1e7;

Point MakePoint(double latitude, double longitude) {
  Point point;
  point.set_latitude(static_cast<int32_t>(std::lround(latitude * kE7)));
  point.set_longitude(static_cast<int32_t>(std::lround(longitude * kE7)));
  return point;
}

// The features database, made up so that the example needs no data file: a 5 by 5 grid of
// stations 0.1 degree apart, north-east of (40, -74). The grid's diagonal is left out so that
// some grid points have no feature.
std::vector<Feature> MakeFeatures() {
  std::vector<Feature> features;
  for (int row = 0; row < 5; ++row) {
    for (int column = 0; column < 5; ++column) {
      if (row == column) continue;
      Feature feature;
      feature.set_name("Station " + std::string(1, static_cast<char>('A' + row)) +
                       std::to_string(column + 1));
      *feature.mutable_location() = MakePoint(40.0 + 0.1 * row, -74.0 + 0.1 * column);
      features.push_back(feature);
    }
  }
  return features;
}

bool SamePoint(const Point& a, const Point& b) {
  return a.latitude() == b.latitude() && a.longitude() == b.longitude();
}

// Either pair of opposite corners spans the same rectangle.
bool Inside(const Rectangle& rectangle, const Point& point) {
  auto [south, north] = std::minmax({rectangle.lo().latitude(), rectangle.hi().latitude()});
  auto [west, east] = std::minmax({rectangle.lo().longitude(), rectangle.hi().longitude()});
  return point.latitude() >= south && point.latitude() <= north && point.longitude() >= west &&
         point.longitude() <= east;
}

// Great-circle distance in metres (haversine formula, spherical Earth).
double DistanceMetres(const Point& from, const Point& to) {
  constexpr double kEarthRadiusMetres = 6371000;
  constexpr double kRadiansPerDegree = M_PI / 180;
  double lat1 = from.latitude() / kE7 * kRadiansPerDegree;
  double lat2 = to.latitude() / kE7 * kRadiansPerDegree;
  double dlat = lat2 - lat1;
  double dlon = (to.longitude() - from.longitude()) / kE7 * kRadiansPerDegree;
  double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
             std::cos(lat1) * std::cos(lat2) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusMetres * std::asin(std::sqrt(h));
}

class RouteGuideImpl final : public routeguide::RouteGuide::CallbackService {
 public:
  explicit RouteGuideImpl(std::vector<Feature> features) : features_(std::move(features)) {}

  grpc::ServerUnaryReactor* GetFeature(grpc::CallbackServerContext* context, const Point* point,
                                       Feature* feature) override {
    feature->set_name(NameAt(*point));
    *feature->mutable_location() = *point;
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerWriteReactor<Feature>* ListFeatures(grpc::CallbackServerContext*,
                                                  const Rectangle* rectangle) override {
    // Writes the features inside the rectangle one at a time, straight from the database.
    class Lister : public grpc::ServerWriteReactor<Feature> {
     public:
      Lister(const Rectangle& rectangle, const std::vector<Feature>& features)
          : rectangle_(rectangle), next_(features.begin()), end_(features.end()) {
        WriteNext();
      }
      void OnWriteDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
          return;
        }
        WriteNext();
      }
      void OnDone() override { delete this; }

     private:
      void WriteNext() {
        next_ = std::find_if(next_, end_,
                             [this](const Feature& f) { return Inside(rectangle_, f.location()); });
        if (next_ == end_) {
          Finish(grpc::Status::OK);
          return;
        }
        StartWrite(&*next_++);
      }

      const Rectangle rectangle_;
      std::vector<Feature>::const_iterator next_;
      const std::vector<Feature>::const_iterator end_;
    };
    return new Lister(*rectangle, features_);
  }

  grpc::ServerReadReactor<Point>* RecordRoute(grpc::CallbackServerContext*,
                                              RouteSummary* summary) override {
    // Adds up the route point by point; answers when the client is done writing.
    class Recorder : public grpc::ServerReadReactor<Point> {
     public:
      Recorder(const RouteGuideImpl* guide, RouteSummary* summary)
          : guide_(guide), summary_(summary), start_(std::chrono::steady_clock::now()) {
        StartRead(&point_);
      }
      void OnReadDone(bool ok) override {
        if (ok) {
          summary_->set_point_count(summary_->point_count() + 1);
          if (!guide_->NameAt(point_).empty()) {
            summary_->set_feature_count(summary_->feature_count() + 1);
          }
          if (summary_->point_count() > 1) distance_ += DistanceMetres(previous_, point_);
          previous_ = point_;
          StartRead(&point_);
          return;
        }
        summary_->set_distance(static_cast<int32_t>(distance_));
        auto elapsed = std::chrono::steady_clock::now() - start_;
        summary_->set_elapsed_time(static_cast<int32_t>(
            std::chrono::duration_cast<std::chrono::seconds>(elapsed).count()));
        Finish(grpc::Status::OK);
      }
      void OnDone() override { delete this; }

     private:
      const RouteGuideImpl* const guide_;
      RouteSummary* const summary_;
      const std::chrono::steady_clock::time_point start_;
      Point point_;
      Point previous_;
      double distance_ = 0;
    };
    return new Recorder(this, summary);
  }

  grpc::ServerBidiReactor<RouteNote, RouteNote>* RouteChat(grpc::CallbackServerContext*) override {
    // Answers each note with the notes left earlier at its point, by this call or others. Reads
    // and writes complete on any thread, concurrently, so the queue and the flags that say what
    // is in flight are guarded; operations on the call are started after the lock is released,
    // since a reaction may run inside them.
    class Chatter : public grpc::ServerBidiReactor<RouteNote, RouteNote> {
     public:
      explicit Chatter(RouteGuideImpl* guide) : guide_(guide) { StartRead(&note_); }

      void OnReadDone(bool ok) override {
        std::vector<RouteNote> earlier;
        if (ok) earlier = guide_->LeaveNote(note_);
        Step step;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          if (ok) {
            pending_.insert(pending_.end(), earlier.begin(), earlier.end());
          } else {
            reads_done_ = true;
          }
          step = NextStep();
        }
        if (ok) StartRead(&note_);
        Take(step);
      }

      void OnWriteDone(bool ok) override {
        Step step;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          pending_.pop_front();
          writing_ = false;
          if (!ok) broken_ = true;
          step = NextStep();
        }
        Take(step);
      }

      void OnDone() override { delete this; }

     private:
      // What to start once mutex_ is released: nothing, a write of `note`, or Finish.
      struct Step {
        const RouteNote* note = nullptr;
        bool finish = false;
        grpc::Status status;
      };

      // Requires mutex_. The note to write is taken here, since pending_ may grow as soon as the
      // lock is released; it stays in place at the front until its write is done, as a deque
      // does not move its elements when more are appended.
      Step NextStep() {
        Step step;
        if (writing_ || finished_) return step;
        if (broken_) {
          finished_ = step.finish = true;
          step.status = grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
        } else if (!pending_.empty()) {
          writing_ = true;
          step.note = &pending_.front();
        } else if (reads_done_) {
          finished_ = step.finish = true;
        }
        return step;
      }

      void Take(const Step& step) {
        if (step.note != nullptr) StartWrite(step.note);
        if (step.finish) Finish(step.status);
      }

      RouteGuideImpl* const guide_;
      RouteNote note_;  // the note being read
      std::mutex mutex_;
      std::deque<RouteNote> pending_;  // notes to write; the front one is in flight if writing_
      bool writing_ = false;
      bool reads_done_ = false;
      bool broken_ = false;
      bool finished_ = false;
    };
    return new Chatter(this);
  }

 private:
  // The name of the feature at `point`; empty if there is none.
  std::string NameAt(const Point& point) const {
    for (const Feature& feature : features_) {
      if (SamePoint(feature.location(), point)) return feature.name();
    }
    return "";
  }

  // Records `note` and returns the notes left at its point before it.
  std::vector<RouteNote> LeaveNote(const RouteNote& note) {
    std::lock_guard<std::mutex> lock(notes_mutex_);
    std::vector<RouteNote> earlier;
    for (const RouteNote& other : notes_) {
      if (SamePoint(other.location(), note.location())) earlier.push_back(other);
    }
    notes_.push_back(note);
    return earlier;
  }

  const std::vector<Feature> features_;
  std::mutex notes_mutex_;
  std::vector<RouteNote> notes_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string address = argc > 1 ? argv[1] : "localhost:50051";
  RouteGuideImpl service(MakeFeatures());
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  notnets::grpc::ServeOverPool(&builder, &service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "route_guide_server: cannot listen on %s\n", address.c_str());
    return 1;
  }
  // The port actually bound, which differs from the one asked for when that was 0.
  std::printf("Server listening on %s:%d and in the memory pool\n",
              address.substr(0, address.rfind(':')).c_str(), port);
  std::fflush(stdout);
  server->Wait();
  return 0;
}
