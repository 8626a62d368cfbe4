// The stranger suite: a .proto unlike the parity suite's (fleet.proto: a multi-level package, two
// services in one file, well-known types as requests and responses, an empty request message),
// served by every kind of gRPC service (sync, callback, streamed-unary and split-streaming, and
// mixed: completion-queue, callback and raw callback methods beside sync ones, and a whole
// AsyncService; and a CallbackGenericService), called with the sync, callback and
// completion-queue stubs and a GenericStub.
// Each case runs the same calls over the pool (a server with no HTTP/2 port, a channel with no
// target) and over HTTP/2, describes what the client observed and expects the two descriptions
// to be equal; it also checks that every pool call went through the pool.
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "fleet_services.h"
#include "grpc/comparison.h"
#include "gtest/gtest.h"
#include "notnets/grpc/channel.h"
#include "notnets/grpc/server.h"
#include "notnets/pool.h"
#include "test_pool.h"

namespace notnets::stranger {
namespace {

using ::google::protobuf::Any;
using ::google::protobuf::Empty;
using ::google::protobuf::Struct;
using ::google::protobuf::Timestamp;
using ::grpc::ClientContext;
using ::grpc::Status;
using ::grpc::StatusCode;
using notnets::grpc_test::Describe;
using notnets::grpc_test::DescribeMetadata;
using notnets::grpc_test::ExpectCallsWent;
using notnets::grpc_test::Path;
using notnets::grpc_test::SetDeadline;
using notnets::grpc_test::SetHangDeadline;

constexpr uint32_t kKiB = 1 << 10;
// Two chunks of it make a vehicle of more than 1 MiB.
constexpr uint32_t kLargeChunk = 600 * kKiB;

// Whether `vehicle` is MakeVehicle(its id, chunk_bytes), field by field.
std::string DescribeVehicle(const Vehicle& vehicle, uint32_t chunk_bytes) {
  bool same = ::google::protobuf::util::MessageDifferencer::Equals(
      vehicle, MakeVehicle(vehicle.id(), chunk_bytes));
  return vehicle.id() + (same ? " ok; " : " DIFFERS; ");
}

std::string DescribeMessage(const ::google::protobuf::Message& message) {
  return "{" + message.ShortDebugString() + "} ";
}

VehicleQuery MakeQuery(const std::string& id, uint32_t chunk_bytes = 0) {
  VehicleQuery query;
  query.set_id(id);
  query.set_chunk_bytes(chunk_bytes);
  return query;
}

::grpc::ByteBuffer ToBuffer(const ::google::protobuf::Message& message) {
  std::string bytes = message.SerializeAsString();
  ::grpc::Slice slice(bytes);
  return ::grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(::grpc::ByteBuffer* buffer) {
  std::vector<::grpc::Slice> slices;
  std::string bytes;
  if (buffer->Dump(&slices).ok()) {
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return bytes;
}

// Waits for the completion of `tag` on `queue`; describes it ("+" ok, "-" not).
std::string Next(::grpc::CompletionQueue* queue, intptr_t tag) {
  void* got_tag;
  bool ok;
  bool got = queue->Next(&got_tag, &ok);
  return std::string(got && reinterpret_cast<intptr_t>(got_tag) == tag ? "" : " wrong tag") +
         (ok ? "+" : "-");
}

void* Tag(intptr_t tag) { return reinterpret_cast<void*>(tag); }

// One server of the flavour under test and a notnets channel to it, on one path.
struct Side {
  Path path;
  std::unique_ptr<FleetServers> services;
  std::unique_ptr<::grpc::Server> server;
  std::string target;
  std::string pool_name;

  std::shared_ptr<::grpc::Channel> Channel() const {
    notnets::grpc::ChannelOptions options;
    options.pool = pool_name;
    return notnets::grpc::CreateChannel(target, options);
  }
};

class StrangerTest : public ::testing::TestWithParam<Flavor> {
 protected:
  void SetUp() override {
    for (Path path : {Path::kPool, Path::kHttp2}) {
      auto side = std::make_unique<Side>();
      side->path = path;
      side->pool_name = notnets::testing::UniquePoolName("stranger");
      side->services = std::make_unique<FleetServers>(GetParam());
      ::grpc::ServerBuilder builder;
      int port = 0;
      side->services->Register(&builder);
      if (path == Path::kHttp2) {
        builder.AddListeningPort("localhost:0", ::grpc::InsecureServerCredentials(), &port);
      } else {
        notnets::grpc::ServerOptions options;
        options.pool = side->pool_name;
        options.worker_threads = 2;
        notnets::grpc::ServeOverPool(&builder, options);
      }
      side->server = builder.BuildAndStart();
      ASSERT_NE(side->server, nullptr);
      side->services->Started();
      if (path == Path::kHttp2) {
        ASSERT_NE(port, 0);
        side->target = "localhost:" + std::to_string(port);
      }
      sides_.push_back(std::move(side));
    }
  }

  void TearDown() override {
    for (auto& side : sides_) {
      side->server->Shutdown();
      side->services->Stop();
      side->server.reset();
      notnets::Pool::Remove(side->pool_name);
    }
  }

  // Runs `scenario` on both paths with a channel of each, expects the same description from
  // both, and expects the pool channel's calls all to have gone through the pool.
  void ExpectSame(
      const std::function<std::string(const std::shared_ptr<::grpc::Channel>&)>& scenario) {
    std::string described[2];
    for (int i = 0; i < 2; ++i) {
      auto channel = sides_[i]->Channel();
      described[i] = scenario(channel);
      ExpectCallsWent(sides_[i]->path, *channel);
    }
    EXPECT_EQ(described[0], described[1]) << "pool (left) and HTTP/2 (right) differ";
  }

  std::vector<std::unique_ptr<Side>> sides_;
};

INSTANTIATE_TEST_SUITE_P(Servers, StrangerTest,
                         ::testing::Values(Flavor::kSync, Flavor::kCallback, Flavor::kStreamed,
                                           Flavor::kMixed, Flavor::kGeneric),
                         [](const ::testing::TestParamInfo<Flavor>& info) {
                           switch (info.param) {
                             case Flavor::kSync:
                               return std::string("Sync");
                             case Flavor::kCallback:
                               return std::string("Callback");
                             case Flavor::kStreamed:
                               return std::string("Streamed");
                             case Flavor::kMixed:
                               return std::string("Mixed");
                             case Flavor::kGeneric:
                               return std::string("Generic");
                           }
                           return std::string();
                         });

// The unary methods of both services, with well-known and empty messages, through the sync,
// callback and completion-queue stubs.
TEST_P(StrangerTest, UnaryWellKnownTypesEveryStubApi) {
  ExpectSame([](const auto& channel) {
    auto fleet = Fleet::NewStub(channel);
    auto depot = Depot::NewStub(channel);
    std::string out;
    for (const std::string& id : {std::string(), std::string("a"), std::string("\0\x7f", 2)}) {
      ClientContext context;
      SetHangDeadline(&context);
      Vehicle vehicle;
      Status status = fleet->Get_Vehicle2(&context, MakeQuery(id, 100), &vehicle);
      out += Describe(status) + DescribeVehicle(vehicle, 100);
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      context.set_wait_for_ready(true);
      Timestamp now;
      Status status = fleet->Now(&context, Empty(), &now);
      out += Describe(status) + DescribeMessage(now);
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      Struct description;
      Status status = fleet->Describe_3(&context, Nothing(), &description);
      out += Describe(status) + DescribeMessage(description);
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      Empty empty;
      out += Describe(depot->Ping_0(&context, Empty(), &empty));
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      VehicleQuery query = MakeQuery("cb", 3);
      Vehicle vehicle;
      std::promise<Status> done;
      fleet->async()->Get_Vehicle2(&context, &query, &vehicle,
                                   [&](Status s) { done.set_value(std::move(s)); });
      Status status = done.get_future().get();
      out += Describe(status) + DescribeVehicle(vehicle, 3);
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      Nothing nothing;
      Struct description;
      std::promise<Status> done;
      fleet->async()->Describe_3(&context, &nothing, &description,
                                 [&](Status s) { done.set_value(std::move(s)); });
      Status status = done.get_future().get();
      out += Describe(status) + DescribeMessage(description);
    }
    ::grpc::CompletionQueue queue;
    {
      ClientContext context;
      SetHangDeadline(&context);
      Vehicle vehicle;
      Status status;
      auto call = fleet->AsyncGet_Vehicle2(&context, MakeQuery("cq", 4), &queue);
      call->Finish(&vehicle, &status, Tag(1));
      out += Next(&queue, 1);
      out += Describe(status) + DescribeVehicle(vehicle, 4);
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      Timestamp now;
      Status status;
      auto call = fleet->PrepareAsyncNow(&context, Empty(), &queue);
      call->StartCall();
      call->Finish(&now, &status, Tag(2));
      out += Next(&queue, 2);
      out += Describe(status) + DescribeMessage(now);
    }
    queue.Shutdown();
    void* tag;
    bool ok;
    while (queue.Next(&tag, &ok)) {
    }
    return out;
  });
}

TEST_P(StrangerTest, GenericStubUnaryOfBothServices) {
  ExpectSame([](const auto& channel) {
    ::grpc::GenericStub stub(channel);
    std::string out;
    auto call = [&](const std::string& method, const ::google::protobuf::Message& request,
                    ::google::protobuf::Message* response) {
      ::grpc::ByteBuffer request_buffer = ToBuffer(request);
      ::grpc::ByteBuffer response_buffer;
      ClientContext context;
      SetHangDeadline(&context);
      std::promise<Status> done;
      stub.UnaryCall(&context, method, ::grpc::StubOptions(), &request_buffer, &response_buffer,
                     [&done](Status status) { done.set_value(std::move(status)); });
      Status status = done.get_future().get();
      response->ParseFromString(FromBuffer(&response_buffer));
      out += Describe(status);
    };
    Vehicle vehicle;
    call("/acme.fleet.v2.Fleet/Get_Vehicle2", MakeQuery("g", 9), &vehicle);
    out += DescribeVehicle(vehicle, 9);
    Struct description;
    call("/acme.fleet.v2.Fleet/Describe_3", Nothing(), &description);
    out += DescribeMessage(description);
    Empty empty;
    call("/acme.fleet.v2.Depot/Ping_0", Empty(), &empty);
    // A method neither service has, named as one of the other service's: its service's server is
    // there, so gRPC answers UNIMPLEMENTED, not an absent server's UNAVAILABLE.
    call("/acme.fleet.v2.Depot/Get_Vehicle2", MakeQuery("x"), &vehicle);
    // Unary calls of streaming methods, which gRPC carries as streams of one message each way.
    // (Over HTTP/2 a second message from the server holds the call until its deadline.)
    VehicleQuery query = MakeQuery("u", 1);
    query.set_count(1);
    call("/acme.fleet.v2.Fleet/Watch", query, &vehicle);
    out += DescribeVehicle(vehicle, 1);
    Any report;
    call("/acme.fleet.v2.Fleet/Report_", MakeVehicle("one", 1), &report);
    out += DescribeMessage(report);
    call("/acme.fleet.v2.Fleet/Convoy", MakeVehicle("c", 1), &vehicle);
    out += vehicle.id();
    return out;
  });
}

// Vehicles over 1 MiB each way, on every method kind.
TEST_P(StrangerTest, MessagesOverOneMiB) {
  ExpectSame([](const auto& channel) {
    auto fleet = Fleet::NewStub(channel);
    std::string out;
    {
      ClientContext context;
      SetHangDeadline(&context);
      Vehicle vehicle;
      Status status = fleet->Get_Vehicle2(&context, MakeQuery("big", kLargeChunk), &vehicle);
      out += Describe(status) + DescribeVehicle(vehicle, kLargeChunk);
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      VehicleQuery query = MakeQuery("w", kLargeChunk);
      query.set_count(2);
      auto reader = fleet->Watch(&context, query);
      Vehicle vehicle;
      while (reader->Read(&vehicle)) out += DescribeVehicle(vehicle, kLargeChunk);
      out += Describe(reader->Finish());
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      Any report;
      auto writer = fleet->Report_(&context, &report);
      writer->Write(MakeVehicle("r1", kLargeChunk));
      writer->Write(MakeVehicle("r2", kLargeChunk));
      writer->WritesDone();
      Status status = writer->Finish();
      out += Describe(status) + DescribeMessage(report);
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      auto stream = fleet->Convoy(&context);
      stream->Write(MakeVehicle("c", kLargeChunk));
      Vehicle reply;
      if (stream->Read(&reply)) out += reply.id() + " " + std::to_string(reply.ByteSizeLong());
      stream->WritesDone();
      out += Describe(stream->Finish());
    }
    return out;
  });
}

// Error statuses (a stream's before and after some messages), metadata both ways, and a handler
// cancelling its own call.
TEST_P(StrangerTest, ErrorsMetadataAndServerCancel) {
  ExpectSame([](const auto& channel) {
    auto fleet = Fleet::NewStub(channel);
    std::string out;
    for (int code : {0, 5, 9, 16}) {
      ClientContext context;
      SetHangDeadline(&context);
      context.AddMetadata("x-plain", "v");
      context.AddMetadata("x-data-bin", std::string("\0\x01\xff", 3));
      VehicleQuery query = MakeQuery("m", 1);
      query.set_echo_metadata(true);
      query.set_fail_code(code);
      query.set_fail_message("code \xc3\xa9 " + std::to_string(code));
      Vehicle vehicle;
      Status status = fleet->Get_Vehicle2(&context, query, &vehicle);
      out += Describe(status) + "'" + vehicle.id() + "' " + DescribeMetadata(context) + "\n";
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      context.AddMetadata("x-stream", "s");
      VehicleQuery query = MakeQuery("w", 1);
      query.set_count(1);
      query.set_echo_metadata(true);
      auto reader = fleet->Watch(&context, query);
      reader->WaitForInitialMetadata();
      out += "early{" + Describe(context.GetServerInitialMetadata()) + "} ";
      Vehicle vehicle;
      while (reader->Read(&vehicle)) out += DescribeVehicle(vehicle, 1);
      Status status = reader->Finish();
      out += Describe(status) + DescribeMetadata(context);
    }
    // A server stream that fails before its first vehicle, and after two.
    for (uint32_t fail_after : {0u, 2u}) {
      ClientContext context;
      SetHangDeadline(&context);
      VehicleQuery query = MakeQuery("f", 2);
      query.set_count(4);
      query.set_fail_after(fail_after);
      query.set_fail_code(static_cast<int>(StatusCode::ABORTED));
      query.set_fail_message("lost contact");
      auto reader = fleet->Watch(&context, query);
      Vehicle vehicle;
      while (reader->Read(&vehicle)) out += DescribeVehicle(vehicle, 2);
      out += Describe(reader->Finish());
    }
    {
      // The handler cancels the call (TryCancel), then answers OK.
      ClientContext context;
      SetHangDeadline(&context);
      VehicleQuery query = MakeQuery("sc");
      query.set_server_cancel(true);
      Vehicle vehicle;
      Status status = fleet->Get_Vehicle2(&context, query, &vehicle);
      out += Describe(status) + "'" + vehicle.id() + "'";
    }
    {
      // The same in a server stream's handler, before any vehicle.
      ClientContext context;
      SetHangDeadline(&context);
      VehicleQuery query = MakeQuery("sc");
      query.set_count(2);
      query.set_server_cancel(true);
      auto reader = fleet->Watch(&context, query);
      Vehicle vehicle;
      while (reader->Read(&vehicle)) out += " vehicle";
      out += Describe(reader->Finish());
    }
    return out;
  });
}

TEST_P(StrangerTest, ClientStreamsHalfCloseAndErrors) {
  ExpectSame([](const auto& channel) {
    auto fleet = Fleet::NewStub(channel);
    std::string out;
    for (const std::vector<std::string>& ids :
         {std::vector<std::string>{}, {"a", "b", "c"}, {"a", "fail", "c"}}) {
      ClientContext context;
      SetHangDeadline(&context);
      Any report;
      auto writer = fleet->Report_(&context, &report);
      for (const auto& id : ids) {
        if (!writer->Write(MakeVehicle(id, 1))) break;
      }
      writer->WritesDone();
      Status status = writer->Finish();
      Struct summary;
      report.UnpackTo(&summary);
      out += Describe(status) + report.type_url() + DescribeMessage(summary);
    }
    {
      // Metadata corked with the first write.
      ClientContext context;
      SetHangDeadline(&context);
      context.set_initial_metadata_corked(true);
      context.AddMetadata("x-corked", "c");
      auto stream = fleet->Convoy(&context);
      stream->Write(MakeVehicle("k", 1));
      stream->WritesDone();
      Vehicle reply;
      while (stream->Read(&reply)) out += reply.id() + ",";
      out += Describe(stream->Finish());
    }
    {
      // The replies come in order, and the server reads on past the half-close.
      ClientContext context;
      SetHangDeadline(&context);
      auto stream = fleet->Convoy(&context);
      for (const char* id : {"x", "y", "z"}) stream->Write(MakeVehicle(id, 1));
      stream->WritesDone();
      Vehicle reply;
      while (stream->Read(&reply)) out += reply.id() + ",";
      out += Describe(stream->Finish());
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      auto stream = fleet->Convoy(&context);
      stream->Write(MakeVehicle("ok", 1));
      Vehicle reply;
      stream->Read(&reply);
      out += reply.id() + ",";
      stream->WriteLast(MakeVehicle("fail", 1), ::grpc::WriteOptions());
      while (stream->Read(&reply)) out += reply.id() + ",";
      out += Describe(stream->Finish());
    }
    return out;
  });
}

TEST_P(StrangerTest, ClientCancelsAndDeadlines) {
  ExpectSame([](const auto& channel) {
    auto fleet = Fleet::NewStub(channel);
    std::string out;
    {
      ClientContext context;
      SetHangDeadline(&context);
      auto stream = fleet->Convoy(&context);
      stream->Write(MakeVehicle("c", 1));
      Vehicle reply;
      stream->Read(&reply);
      out += reply.id() + ",";
      context.TryCancel();
      while (stream->Read(&reply)) out += " more";
      out += Describe(stream->Finish());
    }
    {
      ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() - std::chrono::seconds(1));
      Timestamp now;
      Status status = fleet->Now(&context, Empty(), &now);
      out += Describe(status) + DescribeMessage(now);
    }
    {
      ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() - std::chrono::seconds(1));
      VehicleQuery query = MakeQuery("d");
      query.set_count(2);
      auto reader = fleet->Watch(&context, query);
      Vehicle vehicle;
      while (reader->Read(&vehicle)) out += " vehicle";
      out += Describe(reader->Finish());
    }
    {
      // Cancelled before it started.
      ClientContext context;
      SetHangDeadline(&context);
      context.TryCancel();
      Struct description;
      out += Describe(fleet->Describe_3(&context, Nothing(), &description));
    }
    return out;
  });
}

TEST_P(StrangerTest, CompletionQueueStreams) {
  ExpectSame([](const auto& channel) {
    auto fleet = Fleet::NewStub(channel);
    auto depot = Depot::NewStub(channel);
    ::grpc::CompletionQueue queue;
    std::string out;
    {
      ClientContext context;
      SetHangDeadline(&context);
      Status status;
      auto stream = fleet->PrepareAsyncConvoy(&context, &queue);
      stream->StartCall(Tag(1));
      out += Next(&queue, 1);
      Vehicle reply;
      for (const char* id : {"p", "q"}) {
        stream->Write(MakeVehicle(id, 1), Tag(2));
        out += Next(&queue, 2);
        stream->Read(&reply, Tag(3));
        out += Next(&queue, 3);
        out += reply.id() + ",";
      }
      stream->WritesDone(Tag(4));
      out += Next(&queue, 4);
      stream->Read(&reply, Tag(5));
      out += Next(&queue, 5);
      stream->Finish(&status, Tag(6));
      out += Next(&queue, 6);
      out += Describe(status);
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      Status status;
      Depot_Stub request;
      request.set_name("abc");
      auto reader = depot->AsyncLoad_1(&context, request, &queue, Tag(1));
      out += Next(&queue, 1);
      Depot_Stub item;
      for (;;) {
        reader->Read(&item, Tag(2));
        std::string completion = Next(&queue, 2);
        out += completion;
        if (completion.back() == '-') break;
        out += item.name() + ",";
      }
      reader->Finish(&status, Tag(3));
      out += Next(&queue, 3);
      out += Describe(status);
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      Any report;
      Status status;
      auto writer = fleet->PrepareAsyncReport_(&context, &report, &queue);
      writer->StartCall(Tag(1));
      out += Next(&queue, 1);
      writer->Write(MakeVehicle("r", 1), Tag(2));
      out += Next(&queue, 2);
      writer->WritesDone(Tag(3));
      out += Next(&queue, 3);
      writer->Finish(&status, Tag(4));
      out += Next(&queue, 4);
      out += Describe(status) + DescribeMessage(report);
    }
    queue.Shutdown();
    void* tag;
    bool ok;
    while (queue.Next(&tag, &ok)) {
    }
    return out;
  });
}

// Reads a server stream of `Message` through the callback stub.
template <class Message>
class CallbackReader final : public ::grpc::ClientReadReactor<Message> {
 public:
  CallbackReader() { SetHangDeadline(&context_); }
  ClientContext* context() { return &context_; }
  void Start() {
    this->StartRead(&message_);
    this->StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    out_ += message_.ShortDebugString().substr(0, 40) + ",";
    this->StartRead(&message_);
  }
  void OnDone(const Status& status) override { done_.set_value(out_ + Describe(status)); }
  std::string Wait() { return done_.get_future().get(); }

 private:
  ClientContext context_;
  Message message_;
  std::string out_;
  std::promise<std::string> done_;
};

// A Convoy through the callback stub: writes `ids`, half-closes, reads every reply.
class CallbackConvoy final : public ::grpc::ClientBidiReactor<Vehicle, Vehicle> {
 public:
  CallbackConvoy(Fleet::Stub* stub, std::vector<std::string> ids) : ids_(std::move(ids)) {
    SetHangDeadline(&context_);
    stub->async()->Convoy(&context_, this);
    NextWrite();
    StartRead(&reply_);
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (ok) NextWrite();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    out_ += reply_.id() + ",";
    StartRead(&reply_);
  }
  void OnDone(const Status& status) override { done_.set_value(out_ + Describe(status)); }
  std::string Wait() { return done_.get_future().get(); }

 private:
  void NextWrite() {
    if (next_ == ids_.size()) {
      StartWritesDone();
      return;
    }
    vehicle_ = MakeVehicle(ids_[next_++], 1);
    StartWrite(&vehicle_);
  }
  ClientContext context_;
  std::vector<std::string> ids_;
  size_t next_ = 0;
  Vehicle vehicle_;
  Vehicle reply_;
  std::string out_;
  std::promise<std::string> done_;
};

TEST_P(StrangerTest, CallbackStubStreams) {
  ExpectSame([](const auto& channel) {
    auto fleet = Fleet::NewStub(channel);
    auto depot = Depot::NewStub(channel);
    std::string out = CallbackConvoy(fleet.get(), {"a", "b", "c"}).Wait() + "; ";
    out += CallbackConvoy(fleet.get(), {"a", "fail", "c"}).Wait() + "; ";
    {
      CallbackReader<Vehicle> reader;
      VehicleQuery query = MakeQuery("w", 1);
      query.set_count(3);
      fleet->async()->Watch(reader.context(), &query, &reader);
      reader.Start();
      out += reader.Wait() + "; ";
    }
    {
      CallbackReader<Depot_Stub> reader;
      Depot_Stub request;
      request.set_name("xy");
      depot->async()->Load_1(reader.context(), &request, &reader);
      reader.Start();
      out += reader.Wait();
    }
    return out;
  });
}

// A GenericStub's callback and completion-queue streams of typed methods: gRPC carries a generic
// stream to a method of any kind, and a server-streaming or client-streaming method takes it as a
// stream of its own kind.
TEST_P(StrangerTest, GenericStubStreams) {
  ExpectSame([](const auto& channel) {
    ::grpc::GenericStub stub(channel);
    std::string out;
    {
      class Bidi final : public ::grpc::ClientBidiReactor<::grpc::ByteBuffer, ::grpc::ByteBuffer> {
       public:
        explicit Bidi(::grpc::GenericStub* stub) {
          SetHangDeadline(&context_);
          stub->PrepareBidiStreamingCall(&context_, "/acme.fleet.v2.Fleet/Convoy",
                                         ::grpc::StubOptions(), this);
          out_buffer_ = ToBuffer(MakeVehicle("g0", 4));
          StartWrite(&out_buffer_);
          StartRead(&in_buffer_);
          StartCall();
        }
        void OnWriteDone(bool ok) override {
          if (ok) StartWritesDone();
        }
        void OnReadDone(bool ok) override {
          if (!ok) return;
          Vehicle vehicle;
          vehicle.ParseFromString(FromBuffer(&in_buffer_));
          out_ += vehicle.id() + ",";
          StartRead(&in_buffer_);
        }
        void OnDone(const Status& status) override { done_.set_value(out_ + Describe(status)); }
        std::string Wait() { return done_.get_future().get(); }

       private:
        ClientContext context_;
        ::grpc::ByteBuffer out_buffer_;
        ::grpc::ByteBuffer in_buffer_;
        std::string out_;
        std::promise<std::string> done_;
      } bidi(&stub);
      out += bidi.Wait() + "; ";
    }
    {
      ::grpc::CompletionQueue queue;
      ClientContext context;
      SetHangDeadline(&context);
      Status status;
      auto call = stub.PrepareCall(&context, "/acme.fleet.v2.Fleet/Convoy", &queue);
      call->StartCall(Tag(1));
      out += Next(&queue, 1);
      for (const char* id : {"g1", "g2"}) {
        call->Write(ToBuffer(MakeVehicle(id, 2)), Tag(2));
        out += Next(&queue, 2);
      }
      call->WritesDone(Tag(3));
      out += Next(&queue, 3);
      ::grpc::ByteBuffer buffer;
      for (;;) {
        call->Read(&buffer, Tag(4));
        std::string completion = Next(&queue, 4);
        out += completion;
        if (completion.back() == '-') break;
        Vehicle vehicle;
        vehicle.ParseFromString(FromBuffer(&buffer));
        out += vehicle.id() + ",";
      }
      call->Finish(&status, Tag(5));
      out += Next(&queue, 5);
      out += Describe(status);
      queue.Shutdown();
      void* tag;
      bool ok;
      while (queue.Next(&tag, &ok)) {
      }
    }
    // A server-streaming and a client-streaming method.
    for (const char* method : {"/acme.fleet.v2.Fleet/Watch", "/acme.fleet.v2.Fleet/Report_"}) {
      ::grpc::CompletionQueue queue;
      ClientContext context;
      SetHangDeadline(&context);
      Status status;
      auto call = stub.PrepareCall(&context, method, &queue);
      call->StartCall(Tag(1));
      out += std::string("; ") + method + Next(&queue, 1);
      VehicleQuery query = MakeQuery("gw", 2);
      query.set_count(2);
      if (std::string(method).ends_with("Watch")) {
        call->Write(ToBuffer(query), Tag(2));
        out += Next(&queue, 2);
      } else {
        for (const char* id : {"r1", "r2"}) {
          call->Write(ToBuffer(MakeVehicle(id, 2)), Tag(2));
          out += Next(&queue, 2);
        }
      }
      call->WritesDone(Tag(3));
      out += Next(&queue, 3);
      ::grpc::ByteBuffer buffer;
      for (;;) {
        call->Read(&buffer, Tag(4));
        std::string completion = Next(&queue, 4);
        out += completion;
        if (completion.back() == '-') break;
        out += std::to_string(FromBuffer(&buffer).size()) + " bytes,";
      }
      call->Finish(&status, Tag(5));
      out += Next(&queue, 5);
      out += Describe(status);
      queue.Shutdown();
      void* tag;
      bool ok;
      while (queue.Next(&tag, &ok)) {
      }
    }
    return out;
  });
}

}  // namespace
}  // namespace notnets::stranger
