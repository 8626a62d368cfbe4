// Server reflection and the default health service, which gRPC's libraries add to a server, are
// served by ServeOverPool(&builder, options) with the same results over the pool (a server with
// no HTTP/2 port, a channel with no target) as over HTTP/2, to a client that links no binding of
// theirs and calls them through grpc::GenericStub, as reflection clients do. Each pool case
// checks that its calls went through the pool.
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "notnets/grpc/channel.h"
#include "notnets/grpc/server.h"
#include "notnets/pool.h"
#include "test_pool.h"

namespace notnets::test {
namespace {

using ::google::protobuf::UnknownField;
using ::google::protobuf::UnknownFieldSet;
using ::grpc::ByteBuffer;
using ::grpc::ClientContext;
using ::grpc::Status;

constexpr char kReflectionMethod[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
constexpr char kReflectionService[] = "grpc.reflection.v1alpha.ServerReflection";
constexpr char kHealthService[] = "grpc.health.v1.Health";

// The fields of grpc/reflection/v1alpha/reflection.proto this test uses, by number.
constexpr int kRequestFileContainingSymbol = 4;
constexpr int kRequestListServices = 7;
constexpr int kResponseFileDescriptors = 4;
constexpr int kResponseListServices = 6;
constexpr int kListServicesService = 1;
constexpr int kServiceName = 1;
constexpr int kFileDescriptorProto = 1;

enum class Path { kPool, kHttp2 };

std::string Bytes(const ByteBuffer& buffer) {
  std::vector<::grpc::Slice> slices;
  std::string bytes;
  if (buffer.Dump(&slices).ok()) {
    for (const ::grpc::Slice& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  return bytes;
}

ByteBuffer Buffer(const std::string& bytes) {
  ::grpc::Slice slice(bytes);
  return ByteBuffer(&slice, 1);
}

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// A message of one length-delimited field, in protobuf's wire format.
std::string LengthDelimited(int field, const std::string& value) {
  std::string out;
  AppendVarint((static_cast<uint64_t>(field) << 3) | 2, &out);
  AppendVarint(value.size(), &out);
  return out + value;
}

// The length-delimited fields numbered `field` of the message `bytes`.
std::vector<std::string> Fields(const std::string& bytes, int field) {
  UnknownFieldSet set;
  std::vector<std::string> values;
  if (!set.ParseFromString(bytes)) return values;
  for (int i = 0; i < set.field_count(); ++i) {
    const UnknownField& entry = set.field(i);
    if (entry.number() == field && entry.type() == UnknownField::TYPE_LENGTH_DELIMITED) {
      values.push_back(entry.length_delimited());
    }
  }
  return values;
}

class ReflectionTest : public ::testing::TestWithParam<Path> {
 protected:
  void SetUp() override {
    pool_name_ = notnets::testing::UniquePoolName("grpcrefl");
    ::grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    ::grpc::ServerBuilder builder;
    int port = 0;
    if (GetParam() == Path::kHttp2) {
      builder.AddListeningPort("localhost:0", ::grpc::InsecureServerCredentials(), &port);
    } else {
      notnets::grpc::ServerOptions options;
      options.pool = pool_name_;
      notnets::grpc::ServeOverPool(&builder, options);
    }
    ::grpc::EnableDefaultHealthCheckService(true);
    server_ = builder.BuildAndStart();
    ::grpc::EnableDefaultHealthCheckService(false);
    ASSERT_NE(server_, nullptr);
    notnets::grpc::ChannelOptions options;
    options.pool = pool_name_;
    channel_ = notnets::grpc::CreateChannel(
        GetParam() == Path::kHttp2 ? "localhost:" + std::to_string(port) : std::string(), options);
  }
  void TearDown() override {
    channel_.reset();
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    notnets::Pool::Remove(pool_name_);
  }

  // Expects `calls` calls so far, all on the variant's path, and `context`'s call on it.
  void ExpectPath(uint64_t calls, const ClientContext& context) const {
    notnets::grpc::PathCounters counters = notnets::grpc::GetPathCounters(*channel_);
    EXPECT_EQ(counters.pool_calls, GetParam() == Path::kPool ? calls : 0);
    EXPECT_EQ(counters.http2_calls, GetParam() == Path::kHttp2 ? calls : 0);
    const auto& metadata = context.GetServerInitialMetadata();
    EXPECT_EQ(metadata.find(notnets::grpc::kPoolPeerKey) != metadata.end(),
              GetParam() == Path::kPool);
    EXPECT_EQ(context.peer().starts_with("notnets:"), GetParam() == Path::kPool) << context.peer();
  }

  std::unique_ptr<::grpc::Server> server_;
  std::shared_ptr<::grpc::Channel> channel_;
  std::string pool_name_;
};

// One reflection stream: each request is answered by one response, as the service does.
class ReflectionStream {
 public:
  ReflectionStream(const std::shared_ptr<::grpc::Channel>& channel, ClientContext* context)
      : stub_(channel) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    call_ = stub_.PrepareCall(context, kReflectionMethod, &queue_);
    call_->StartCall(&queue_);
    started_ = Wait();
  }
  ~ReflectionStream() {
    queue_.Shutdown();
    void* tag;
    bool ok;
    while (queue_.Next(&tag, &ok)) {
    }
  }

  bool started() const { return started_; }

  // Sends `request`; the response, or nothing if the stream failed.
  std::string Ask(const std::string& request) {
    call_->Write(Buffer(request), &queue_);
    if (!Wait()) return std::string();
    ByteBuffer response;
    call_->Read(&response, &queue_);
    if (!Wait()) return std::string();
    return Bytes(response);
  }

  Status Finish() {
    call_->WritesDone(&queue_);
    Wait();
    Status status;
    call_->Finish(&status, &queue_);
    Wait();
    return status;
  }

 private:
  bool Wait() {
    void* tag;
    bool ok = false;
    return queue_.Next(&tag, &ok) && ok;
  }

  ::grpc::GenericStub stub_;
  ::grpc::CompletionQueue queue_;
  std::unique_ptr<::grpc::GenericClientAsyncReaderWriter> call_;
  bool started_ = false;
};

TEST_P(ReflectionTest, ListsTheServicesAndDescribesThem) {
  ClientContext context;
  ReflectionStream stream(channel_, &context);
  ASSERT_TRUE(stream.started());

  std::set<std::string> services;
  for (const std::string& list :
       Fields(stream.Ask(LengthDelimited(kRequestListServices, "")), kResponseListServices)) {
    for (const std::string& service : Fields(list, kListServicesService)) {
      for (const std::string& name : Fields(service, kServiceName)) services.insert(name);
    }
  }
  EXPECT_EQ(services.count(kReflectionService), 1u);
  EXPECT_EQ(services.count(kHealthService), 1u);

  // The second request on the same stream: the file that defines the reflection service.
  std::vector<std::string> files;
  for (const std::string& response :
       Fields(stream.Ask(LengthDelimited(kRequestFileContainingSymbol, kReflectionService)),
              kResponseFileDescriptors)) {
    for (const std::string& file : Fields(response, kFileDescriptorProto)) files.push_back(file);
  }
  ASSERT_FALSE(files.empty());
  ::google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(files[0]));
  EXPECT_EQ(file.package(), "grpc.reflection.v1alpha");
  ASSERT_EQ(file.service_size(), 1);
  EXPECT_EQ(file.service(0).name(), "ServerReflection");

  Status status = stream.Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  ExpectPath(1, context);
}

TEST_P(ReflectionTest, DefaultHealthServiceAnswersWithoutABinding) {
  ::grpc::GenericStub stub(channel_);
  ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  ByteBuffer request = Buffer(std::string());  // HealthCheckRequest{service: ""}: the server
  ByteBuffer response;
  std::promise<Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", ::grpc::StubOptions(), &request,
                 &response, [&done](Status status) { done.set_value(std::move(status)); });
  Status status = done.get_future().get();
  ASSERT_TRUE(status.ok()) << status.error_message();
  // HealthCheckResponse{status: SERVING}: field 1, varint 1.
  UnknownFieldSet fields;
  ASSERT_TRUE(fields.ParseFromString(Bytes(response)));
  ASSERT_EQ(fields.field_count(), 1);
  EXPECT_EQ(fields.field(0).number(), 1);
  EXPECT_EQ(fields.field(0).varint(), 1u);
  ExpectPath(1, context);
}

INSTANTIATE_TEST_SUITE_P(Paths, ReflectionTest, ::testing::Values(Path::kPool, Path::kHttp2),
                         [](const ::testing::TestParamInfo<Path>& info) {
                           return std::string(info.param == Path::kPool ? "Pool" : "Http2");
                         });

}  // namespace
}  // namespace notnets::test
