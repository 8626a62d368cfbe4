#include "fleet_services.h"

#include <optional>
#include <utility>

namespace notnets::stranger {
namespace {

using ::google::protobuf::Any;
using ::google::protobuf::Empty;
using ::google::protobuf::Struct;
using ::google::protobuf::Timestamp;
using ::grpc::Status;
using ::grpc::StatusCode;

// Sends back the request metadata whose keys start with "x-" as initial and trailing metadata.
void EchoMetadata(::grpc::ServerContextBase* context) {
  for (const auto& [key, value] : context->client_metadata()) {
    std::string k(key.data(), key.size());
    if (!k.starts_with("x-")) continue;
    std::string v(value.data(), value.size());
    context->AddInitialMetadata(k, v);
    context->AddTrailingMetadata("x-t-" + k.substr(2), v);
  }
}

Status FailStatus(const VehicleQuery& query) {
  return Status(static_cast<StatusCode>(query.fail_code()), query.fail_message());
}

// Get_Vehicle2: what the query asks, for every flavour.
Status AnswerGet(::grpc::ServerContextBase* context, const VehicleQuery& query, Vehicle* vehicle) {
  if (query.echo_metadata()) EchoMetadata(context);
  if (query.server_cancel()) {
    context->TryCancel();
    return Status::OK;
  }
  if (query.fail_code() != 0) return FailStatus(query);
  *vehicle = MakeVehicle(query.id(), query.chunk_bytes());
  return Status::OK;
}

// Watch: writes the vehicles `query` asks for through `writer` (a ServerWriter or
// ServerSplitStreamer), and returns the call's status.
template <class Writer>
Status WatchWith(::grpc::ServerContextBase* context, const VehicleQuery& query, Writer* writer) {
  if (query.echo_metadata()) EchoMetadata(context);
  if (query.server_cancel()) {
    context->TryCancel();
    return Status::OK;
  }
  for (uint32_t i = 0; i < query.count(); ++i) {
    if (query.fail_code() != 0 && i == query.fail_after()) return FailStatus(query);
    writer->Write(MakeVehicle(query.id() + "-" + std::to_string(i), query.chunk_bytes()));
  }
  return query.fail_code() != 0 ? FailStatus(query) : Status::OK;
}

Status RefuseFail() { return Status(StatusCode::INVALID_ARGUMENT, "vehicle fail refused"); }

// Report_'s answer for the vehicles `ids` names.
Any ReportOf(const std::vector<std::string>& ids) {
  Struct report;
  (*report.mutable_fields())["count"].set_number_value(static_cast<double>(ids.size()));
  std::string joined;
  for (const auto& id : ids) joined += id + ",";
  (*report.mutable_fields())["ids"].set_string_value(joined);
  Any any;
  any.PackFrom(report);
  return any;
}

Vehicle ConvoyReply(const Vehicle& vehicle) {
  Vehicle reply = vehicle;
  reply.set_id("re:" + vehicle.id());
  return reply;
}

Depot_Stub LoadItem(const Depot_Stub& request, size_t i) {
  Depot_Stub item;
  item.set_name(request.name() + "-" + std::to_string(i));
  return item;
}

// The sync methods of Fleet that every flavour but the callback one shares, on `Base`.
template <class Base>
class SyncFleetMethods : public Base {
 public:
  Status Get_Vehicle2(::grpc::ServerContext* context, const VehicleQuery* query,
                      Vehicle* vehicle) override {
    return AnswerGet(context, *query, vehicle);
  }
  Status Now(::grpc::ServerContext*, const Empty*, Timestamp* now) override {
    *now = NowValue();
    return Status::OK;
  }
  Status Describe_3(::grpc::ServerContext*, const Nothing*, Struct* description) override {
    *description = DescribeValue();
    return Status::OK;
  }
  Status Watch(::grpc::ServerContext* context, const VehicleQuery* query,
               ::grpc::ServerWriter<Vehicle>* writer) override {
    return WatchWith(context, *query, writer);
  }
  Status Report_(::grpc::ServerContext*, ::grpc::ServerReader<Vehicle>* reader,
                 Any* report) override {
    std::vector<std::string> ids;
    Vehicle vehicle;
    while (reader->Read(&vehicle)) {
      if (vehicle.id() == "fail") return RefuseFail();
      ids.push_back(vehicle.id());
    }
    *report = ReportOf(ids);
    return Status::OK;
  }
  Status Convoy(::grpc::ServerContext*,
                ::grpc::ServerReaderWriter<Vehicle, Vehicle>* stream) override {
    Vehicle vehicle;
    while (stream->Read(&vehicle)) {
      if (vehicle.id() == "fail") return RefuseFail();
      stream->Write(ConvoyReply(vehicle));
    }
    return Status::OK;
  }
};

class SyncDepot final : public Depot::Service {
 public:
  Status Ping_0(::grpc::ServerContext*, const Empty*, Empty*) override { return Status::OK; }
  Status Load_1(::grpc::ServerContext*, const Depot_Stub* request,
                ::grpc::ServerWriter<Depot_Stub>* writer) override {
    for (size_t i = 0; i < request->name().size(); ++i) writer->Write(LoadItem(*request, i));
    return Status::OK;
  }
};

// ---- Callback.

// Writes `items` one at a time, then finishes with `status`.
template <class Message>
class Writer final : public ::grpc::ServerWriteReactor<Message> {
 public:
  Writer(std::vector<Message> items, Status status)
      : items_(std::move(items)), status_(std::move(status)) {
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      this->Finish(Status(StatusCode::UNKNOWN, "write failed"));
      return;
    }
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (next_ < items_.size()) {
      this->StartWrite(&items_[next_++]);
    } else {
      this->Finish(status_);
    }
  }
  std::vector<Message> items_;
  Status status_;
  size_t next_ = 0;
};

class CallbackFleet final : public Fleet::CallbackService {
 public:
  ::grpc::ServerUnaryReactor* Get_Vehicle2(::grpc::CallbackServerContext* context,
                                           const VehicleQuery* query, Vehicle* vehicle) override {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(AnswerGet(context, *query, vehicle));
    return reactor;
  }
  ::grpc::ServerUnaryReactor* Now(::grpc::CallbackServerContext* context, const Empty*,
                                  Timestamp* now) override {
    *now = NowValue();
    auto* reactor = context->DefaultReactor();
    reactor->Finish(Status::OK);
    return reactor;
  }
  ::grpc::ServerUnaryReactor* Describe_3(::grpc::CallbackServerContext* context, const Nothing*,
                                         Struct* description) override {
    *description = DescribeValue();
    auto* reactor = context->DefaultReactor();
    reactor->Finish(Status::OK);
    return reactor;
  }
  ::grpc::ServerWriteReactor<Vehicle>* Watch(::grpc::CallbackServerContext* context,
                                             const VehicleQuery* query) override {
    // Collects what the sync handler would write, then writes it.
    struct Collector {
      std::vector<Vehicle> items;
      void Write(const Vehicle& vehicle) { items.push_back(vehicle); }
    } collector;
    Status status = WatchWith(context, *query, &collector);
    return new Writer<Vehicle>(std::move(collector.items), std::move(status));
  }
  ::grpc::ServerReadReactor<Vehicle>* Report_(::grpc::CallbackServerContext*,
                                              Any* report) override {
    class Reader final : public ::grpc::ServerReadReactor<Vehicle> {
     public:
      explicit Reader(Any* report) : report_(report) { StartRead(&vehicle_); }
      void OnReadDone(bool ok) override {
        if (!ok) {
          *report_ = ReportOf(ids_);
          Finish(Status::OK);
        } else if (vehicle_.id() == "fail") {
          Finish(RefuseFail());
        } else {
          ids_.push_back(vehicle_.id());
          StartRead(&vehicle_);
        }
      }
      void OnDone() override { delete this; }

     private:
      Any* report_;
      Vehicle vehicle_;
      std::vector<std::string> ids_;
    };
    return new Reader(report);
  }
  ::grpc::ServerBidiReactor<Vehicle, Vehicle>* Convoy(::grpc::CallbackServerContext*) override;
};

class ConvoyReactor final : public ::grpc::ServerBidiReactor<Vehicle, Vehicle> {
 public:
  ConvoyReactor() { StartRead(&vehicle_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(Status::OK);
    } else if (vehicle_.id() == "fail") {
      Finish(RefuseFail());
    } else {
      reply_ = ConvoyReply(vehicle_);
      StartWrite(&reply_);
    }
  }
  void OnWriteDone(bool ok) override {
    if (ok) {
      StartRead(&vehicle_);
    } else {
      Finish(Status(StatusCode::UNKNOWN, "write failed"));
    }
  }
  void OnDone() override { delete this; }

 private:
  Vehicle vehicle_;
  Vehicle reply_;
};

::grpc::ServerBidiReactor<Vehicle, Vehicle>* CallbackFleet::Convoy(::grpc::CallbackServerContext*) {
  return new ConvoyReactor();
}

class CallbackDepot final : public Depot::CallbackService {
 public:
  ::grpc::ServerUnaryReactor* Ping_0(::grpc::CallbackServerContext* context, const Empty*,
                                     Empty*) override {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(Status::OK);
    return reactor;
  }
  ::grpc::ServerWriteReactor<Depot_Stub>* Load_1(::grpc::CallbackServerContext*,
                                                 const Depot_Stub* request) override {
    std::vector<Depot_Stub> items;
    for (size_t i = 0; i < request->name().size(); ++i) items.push_back(LoadItem(*request, i));
    return new Writer<Depot_Stub>(std::move(items), Status::OK);
  }
};

// ---- Streamed.

// A streamed unary method: reads the request, answers with `answer(request, &response)`.
template <class Request, class Response, class Answer>
Status Streamed(::grpc::ServerUnaryStreamer<Request, Response>* streamer, Answer answer) {
  Request request;
  if (!streamer->Read(&request)) return Status(StatusCode::INTERNAL, "no request");
  Response response;
  Status status = answer(request, &response);
  if (status.ok()) streamer->Write(response);
  return status;
}

class StreamedFleet final : public SyncFleetMethods<Fleet::StreamedService> {
 public:
  Status StreamedGet_Vehicle2(
      ::grpc::ServerContext* context,
      ::grpc::ServerUnaryStreamer<VehicleQuery, Vehicle>* streamer) override {
    return Streamed(streamer, [context](const VehicleQuery& query, Vehicle* vehicle) {
      return AnswerGet(context, query, vehicle);
    });
  }
  Status StreamedNow(::grpc::ServerContext*,
                     ::grpc::ServerUnaryStreamer<Empty, Timestamp>* streamer) override {
    return Streamed(streamer, [](const Empty&, Timestamp* now) {
      *now = NowValue();
      return Status::OK;
    });
  }
  Status StreamedDescribe_3(::grpc::ServerContext*,
                            ::grpc::ServerUnaryStreamer<Nothing, Struct>* streamer) override {
    return Streamed(streamer, [](const Nothing&, Struct* description) {
      *description = DescribeValue();
      return Status::OK;
    });
  }
  Status StreamedWatch(::grpc::ServerContext* context,
                       ::grpc::ServerSplitStreamer<VehicleQuery, Vehicle>* streamer) override {
    VehicleQuery query;
    if (!streamer->Read(&query)) return Status(StatusCode::INTERNAL, "no request");
    return WatchWith(context, query, streamer);
  }
};

class StreamedDepot final : public Depot::StreamedService {
 public:
  Status StreamedPing_0(::grpc::ServerContext*,
                        ::grpc::ServerUnaryStreamer<Empty, Empty>* streamer) override {
    return Streamed(streamer, [](const Empty&, Empty*) { return Status::OK; });
  }
  Status StreamedLoad_1(::grpc::ServerContext*,
                        ::grpc::ServerSplitStreamer<Depot_Stub, Depot_Stub>* streamer) override {
    Depot_Stub request;
    if (!streamer->Read(&request)) return Status(StatusCode::INTERNAL, "no request");
    for (size_t i = 0; i < request.name().size(); ++i) streamer->Write(LoadItem(request, i));
    return Status::OK;
  }
};

// ---- Mixed.

using MixedFleetBase = Fleet::WithAsyncMethod_Now<
    Fleet::WithCallbackMethod_Convoy<Fleet::WithRawCallbackMethod_Describe_3<Fleet::Service>>>;

class MixedFleet final : public SyncFleetMethods<MixedFleetBase> {
 public:
  using SyncFleetMethods<MixedFleetBase>::Describe_3;
  using SyncFleetMethods<MixedFleetBase>::Convoy;
  ::grpc::ServerUnaryReactor* Describe_3(::grpc::CallbackServerContext* context,
                                         const ::grpc::ByteBuffer*,
                                         ::grpc::ByteBuffer* response) override {
    std::string bytes = DescribeValue().SerializeAsString();
    ::grpc::Slice slice(bytes);
    *response = ::grpc::ByteBuffer(&slice, 1);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(Status::OK);
    return reactor;
  }
  ::grpc::ServerBidiReactor<Vehicle, Vehicle>* Convoy(::grpc::CallbackServerContext*) override {
    return new ConvoyReactor();
  }
};

// A completion-queue call's state: each completion of its tag moves it on.
class QueuedCall {
 public:
  virtual ~QueuedCall() = default;
  // `ok` is the completion's; false at the first step means the queue is shutting down.
  virtual void Proceed(bool ok) = 0;
};

class NowCall final : public QueuedCall {
 public:
  NowCall(MixedFleet* service, ::grpc::ServerCompletionQueue* queue)
      : service_(service), queue_(queue), responder_(&context_) {
    service_->RequestNow(&context_, &request_, &responder_, queue_, queue_, this);
  }
  void Proceed(bool ok) override {
    if (!ok || answered_) {
      delete this;
      return;
    }
    new NowCall(service_, queue_);
    answered_ = true;
    responder_.Finish(NowValue(), Status::OK, this);
  }

 private:
  MixedFleet* service_;
  ::grpc::ServerCompletionQueue* queue_;
  ::grpc::ServerContext context_;
  Empty request_;
  ::grpc::ServerAsyncResponseWriter<Timestamp> responder_;
  bool answered_ = false;
};

class PingCall final : public QueuedCall {
 public:
  PingCall(Depot::AsyncService* service, ::grpc::ServerCompletionQueue* queue)
      : service_(service), queue_(queue), responder_(&context_) {
    service_->RequestPing_0(&context_, &request_, &responder_, queue_, queue_, this);
  }
  void Proceed(bool ok) override {
    if (!ok || answered_) {
      delete this;
      return;
    }
    new PingCall(service_, queue_);
    answered_ = true;
    responder_.Finish(Empty(), Status::OK, this);
  }

 private:
  Depot::AsyncService* service_;
  ::grpc::ServerCompletionQueue* queue_;
  ::grpc::ServerContext context_;
  Empty request_;
  ::grpc::ServerAsyncResponseWriter<Empty> responder_;
  bool answered_ = false;
};

class LoadCall final : public QueuedCall {
 public:
  LoadCall(Depot::AsyncService* service, ::grpc::ServerCompletionQueue* queue)
      : service_(service), queue_(queue), writer_(&context_) {
    service_->RequestLoad_1(&context_, &request_, &writer_, queue_, queue_, this);
  }
  void Proceed(bool ok) override {
    if (!started_) {
      if (!ok) {
        delete this;
        return;
      }
      started_ = true;
      new LoadCall(service_, queue_);
    } else if (finished_ || !ok) {
      if (!finished_) {
        finished_ = true;
        writer_.Finish(Status(StatusCode::UNKNOWN, "write failed"), this);
        return;
      }
      delete this;
      return;
    }
    if (next_ < request_.name().size()) {
      item_ = LoadItem(request_, next_++);
      writer_.Write(item_, this);
    } else {
      finished_ = true;
      writer_.Finish(Status::OK, this);
    }
  }

 private:
  Depot::AsyncService* service_;
  ::grpc::ServerCompletionQueue* queue_;
  ::grpc::ServerContext context_;
  Depot_Stub request_;
  Depot_Stub item_;
  ::grpc::ServerAsyncWriter<Depot_Stub> writer_;
  bool started_ = false;
  bool finished_ = false;
  size_t next_ = 0;
};

// ---- Generic.

// Serves both services by full method name, with the messages as bytes, as the typed handlers do.
class GenericReactor final : public ::grpc::ServerGenericBidiReactor {
 public:
  explicit GenericReactor(::grpc::GenericCallbackServerContext* context)
      : context_(context), method_(context->method()) {
    StartRead(&in_);
  }
  void OnReadDone(bool ok) override {
    std::string bytes = ok ? Bytes(&in_) : std::string();
    if (method_ == "/acme.fleet.v2.Fleet/Report_") {
      Vehicle vehicle;
      vehicle.ParseFromString(bytes);
      if (!ok) {
        Answer({ReportOf(ids_).SerializeAsString()}, Status::OK);
      } else if (vehicle.id() == "fail") {
        Finish(RefuseFail());
      } else {
        ids_.push_back(vehicle.id());
        StartRead(&in_);
      }
      return;
    }
    if (method_ == "/acme.fleet.v2.Fleet/Convoy") {
      Vehicle vehicle;
      vehicle.ParseFromString(bytes);
      if (!ok) {
        Finish(Status::OK);
      } else if (vehicle.id() == "fail") {
        Finish(RefuseFail());
      } else {
        Answer({ConvoyReply(vehicle).SerializeAsString()}, std::nullopt);
      }
      return;
    }
    if (!ok) {
      Finish(Status(StatusCode::INTERNAL, "no request"));
      return;
    }
    AnswerSingleRequest(bytes);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(Status(StatusCode::UNKNOWN, "write failed"));
    } else {
      WriteNext();
    }
  }
  void OnDone() override { delete this; }

 private:
  static std::string Bytes(::grpc::ByteBuffer* buffer) {
    std::vector<::grpc::Slice> slices;
    std::string bytes;
    if (buffer->Dump(&slices).ok()) {
      for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    return bytes;
  }

  // The methods that take one request: unary and server-streaming ones.
  void AnswerSingleRequest(const std::string& bytes) {
    std::vector<std::string> out;
    if (method_ == "/acme.fleet.v2.Fleet/Get_Vehicle2") {
      VehicleQuery query;
      query.ParseFromString(bytes);
      Vehicle vehicle;
      Status status = AnswerGet(context_, query, &vehicle);
      if (status.ok() && !query.server_cancel()) out.push_back(vehicle.SerializeAsString());
      Answer(std::move(out), status);
    } else if (method_ == "/acme.fleet.v2.Fleet/Now") {
      Answer({NowValue().SerializeAsString()}, Status::OK);
    } else if (method_ == "/acme.fleet.v2.Fleet/Describe_3") {
      Answer({DescribeValue().SerializeAsString()}, Status::OK);
    } else if (method_ == "/acme.fleet.v2.Fleet/Watch") {
      VehicleQuery query;
      query.ParseFromString(bytes);
      struct Collector {
        std::vector<std::string>* out;
        void Write(const Vehicle& vehicle) { out->push_back(vehicle.SerializeAsString()); }
      } collector{&out};
      Status status = WatchWith(context_, query, &collector);
      Answer(std::move(out), status);
    } else if (method_ == "/acme.fleet.v2.Depot/Ping_0") {
      Answer({Empty().SerializeAsString()}, Status::OK);
    } else if (method_ == "/acme.fleet.v2.Depot/Load_1") {
      Depot_Stub request;
      request.ParseFromString(bytes);
      for (size_t i = 0; i < request.name().size(); ++i) {
        out.push_back(LoadItem(request, i).SerializeAsString());
      }
      Answer(std::move(out), Status::OK);
    } else {
      Finish(Status(StatusCode::UNIMPLEMENTED, ""));
    }
  }

  // Writes `messages` in order, then finishes with `status`, or reads on when there is none.
  void Answer(std::vector<std::string> messages, std::optional<Status> status) {
    pending_ = std::move(messages);
    next_ = 0;
    status_ = std::move(status);
    WriteNext();
  }
  void WriteNext() {
    if (next_ < pending_.size()) {
      ::grpc::Slice slice(pending_[next_++]);
      out_ = ::grpc::ByteBuffer(&slice, 1);
      StartWrite(&out_);
    } else if (status_.has_value()) {
      Finish(*status_);
    } else {
      StartRead(&in_);
    }
  }

  ::grpc::GenericCallbackServerContext* context_;
  const std::string method_;
  ::grpc::ByteBuffer in_;
  ::grpc::ByteBuffer out_;
  std::vector<std::string> ids_;
  std::vector<std::string> pending_;
  size_t next_ = 0;
  std::optional<Status> status_;
};

class GenericFleet final : public ::grpc::CallbackGenericService {
 public:
  ::grpc::ServerGenericBidiReactor* CreateReactor(
      ::grpc::GenericCallbackServerContext* context) override {
    return new GenericReactor(context);
  }
};

}  // namespace

Vehicle MakeVehicle(const std::string& id, uint32_t chunk_bytes) {
  Vehicle vehicle;
  vehicle.set_id(id);
  vehicle.set_kind(id.size() % 2 == 0 ? Vehicle::TRUCK : Vehicle::VAN);
  // Set to zero: present, unlike an unset optional field.
  vehicle.set_mileage(static_cast<int32_t>(id.size()) - 1);
  if (id.size() % 2 == 0) {
    vehicle.set_cargo("cargo of " + id);
  } else {
    vehicle.mutable_parked_at()->set_lat(1.5);
    vehicle.mutable_parked_at()->set_source(Vehicle::Position::GPS);
  }
  Vehicle::Position position;
  position.set_lon(-0.25);
  (*vehicle.mutable_waypoints())["start"] = position;
  (*vehicle.mutable_waypoints())[""] = Vehicle::Position();
  for (int c = 0; c < 2; ++c) {
    std::string chunk(chunk_bytes, '\0');
    for (uint32_t i = 0; i < chunk_bytes; ++i) {
      chunk[i] = static_cast<char>(i * 31 + c + (id.empty() ? 0 : id[i % id.size()]));
    }
    vehicle.add_chunks(std::move(chunk));
  }
  vehicle.add_chunks("");
  vehicle.mutable_seen()->set_seconds(1700000000);
  vehicle.mutable_seen()->set_nanos(123);
  (*vehicle.mutable_attributes()->mutable_fields())["id"].set_string_value(id);
  (*vehicle.mutable_attributes()->mutable_fields())["null"].set_null_value(
      ::google::protobuf::NULL_VALUE);
  vehicle.mutable_extra()->PackFrom(NowValue());
  return vehicle;
}

::google::protobuf::Timestamp NowValue() {
  ::google::protobuf::Timestamp now;
  now.set_seconds(1234567890);
  now.set_nanos(5);
  return now;
}

::google::protobuf::Struct DescribeValue() {
  ::google::protobuf::Struct description;
  auto& fields = *description.mutable_fields();
  fields["fleet"].set_string_value("acme");
  fields["size"].set_number_value(42);
  fields["active"].set_bool_value(true);
  fields["depots"].mutable_list_value()->add_values()->set_string_value("north");
  return description;
}

FleetServers::FleetServers(Flavor flavor) : flavor_(flavor) {
  switch (flavor) {
    case Flavor::kSync:
      services_.push_back(std::make_unique<SyncFleetMethods<Fleet::Service>>());
      services_.push_back(std::make_unique<SyncDepot>());
      break;
    case Flavor::kCallback:
      services_.push_back(std::make_unique<CallbackFleet>());
      services_.push_back(std::make_unique<CallbackDepot>());
      break;
    case Flavor::kStreamed:
      services_.push_back(std::make_unique<StreamedFleet>());
      services_.push_back(std::make_unique<StreamedDepot>());
      break;
    case Flavor::kMixed:
      services_.push_back(std::make_unique<MixedFleet>());
      services_.push_back(std::make_unique<Depot::AsyncService>());
      break;
    case Flavor::kGeneric:
      break;
  }
}

FleetServers::~FleetServers() { Stop(); }

void FleetServers::Register(::grpc::ServerBuilder* builder) {
  for (auto& service : services_) builder->RegisterService(service.get());
  if (flavor_ == Flavor::kGeneric) {
    generic_ = std::make_unique<GenericFleet>();
    builder->RegisterCallbackGenericService(generic_.get());
  }
  if (flavor_ == Flavor::kMixed) queue_ = builder->AddCompletionQueue();
}

void FleetServers::Started() {
  if (queue_ == nullptr) return;
  auto* fleet = static_cast<MixedFleet*>(services_[0].get());
  auto* depot = static_cast<Depot::AsyncService*>(services_[1].get());
  new NowCall(fleet, queue_.get());
  new PingCall(depot, queue_.get());
  new LoadCall(depot, queue_.get());
  queue_thread_ = std::thread([queue = queue_.get()] {
    void* tag;
    bool ok;
    while (queue->Next(&tag, &ok)) static_cast<QueuedCall*>(tag)->Proceed(ok);
  });
}

void FleetServers::Stop() {
  if (queue_ == nullptr) return;
  queue_->Shutdown();
  if (queue_thread_.joinable()) queue_thread_.join();
  queue_.reset();
}

}  // namespace notnets::stranger
