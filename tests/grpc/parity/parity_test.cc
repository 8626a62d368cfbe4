// The parity suite: a service this project was not written against (inventory.proto), served by
// a Foo::Service and a Foo::CallbackService, called with the sync, callback and completion-queue
// stubs and a GenericStub. Each case runs the same calls over the pool (a server with no HTTP/2
// port, a channel with no target) and over HTTP/2, describes what the client observed (results,
// status code, message and details, user metadata) and expects the two descriptions to be
// equal; it also checks that every pool call went through the pool.
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpc/comparison.h"
#include "gtest/gtest.h"
#include "inventory_services.h"
#include "notnets/grpc/channel.h"
#include "notnets/grpc/server.h"
#include "notnets/pool.h"
#include "test_pool.h"

namespace notnets::parity {
namespace {

using ::google::protobuf::Empty;
using ::grpc::ClientContext;
using ::grpc::Status;
using ::grpc::StatusCode;
using notnets::grpc_test::Describe;
using notnets::grpc_test::DescribeMetadata;
using notnets::grpc_test::ExpectCallsWent;
using notnets::grpc_test::Path;
using notnets::grpc_test::SetDeadline;
using notnets::grpc_test::SetHangDeadline;

enum class Flavor { kSync, kCallback };

constexpr int kMiB = 1 << 20;
// The servers' receive limit; the clients keep gRPC's default of 4 MiB unless a case raises it.
constexpr int kServerReceiveLimit = 12 * kMiB;

// Whether `item` is MakeItem(sku, blob_bytes), field by field.
std::string DescribeItem(const Item& item, const std::string& sku, uint32_t blob_bytes) {
  bool same = ::google::protobuf::util::MessageDifferencer::Equals(item, MakeItem(sku, blob_bytes));
  return "item " + item.sku() + (same ? " ok" : " DIFFERS") + "; ";
}

std::string DescribeSummary(const UploadSummary& summary) {
  std::string out = std::to_string(summary.count()) + " items, " +
                    std::to_string(summary.blob_bytes()) + " bytes:";
  for (const auto& sku : summary.skus()) out += " " + sku;
  return out;
}

bool Eventually(const std::function<bool()>& condition) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

Query MakeQuery(const std::string& sku, uint32_t blob_bytes = 0) {
  Query query;
  query.set_sku(sku);
  query.set_blob_bytes(blob_bytes);
  return query;
}

// Calls `method` through a GenericStub's callback unary call with `request`'s bytes; fills
// `response_bytes` with the answer's bytes when there is one.
Status GenericUnaryCall(::grpc::GenericStub* stub, const std::string& method, const Query& request,
                        std::string* response_bytes) {
  std::string request_bytes = request.SerializeAsString();
  ::grpc::Slice slice(request_bytes);
  ::grpc::ByteBuffer request_buffer(&slice, 1);
  ::grpc::ByteBuffer response_buffer;
  ClientContext context;
  SetHangDeadline(&context);
  std::promise<Status> done;
  stub->UnaryCall(&context, method, ::grpc::StubOptions(), &request_buffer, &response_buffer,
                  [&done](Status status) { done.set_value(std::move(status)); });
  Status status = done.get_future().get();
  std::vector<::grpc::Slice> slices;
  if (response_buffer.Dump(&slices).ok()) {
    for (const auto& s : slices) {
      response_bytes->append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  return status;
}

// Channel arguments with the integer argument `key` set to `value`.
::grpc::ChannelArguments WithArgument(const char* key, int value) {
  ::grpc::ChannelArguments arguments;
  arguments.SetInt(key, value);
  return arguments;
}

// One server of the flavour under test and a notnets channel to it, on one path.
struct Side {
  Path path;
  Observations observations;
  std::unique_ptr<::grpc::Service> service;
  std::unique_ptr<::grpc::Server> server;
  std::string target;
  std::string pool_name;

  std::shared_ptr<::grpc::Channel> Channel(const ::grpc::ChannelArguments& arguments) const {
    notnets::grpc::ChannelOptions options;
    options.pool = pool_name;
    options.arguments = arguments;
    return notnets::grpc::CreateChannel(target, options);
  }
};

class ParityTest : public ::testing::TestWithParam<Flavor> {
 protected:
  void SetUp() override {
    for (Path path : {Path::kPool, Path::kHttp2}) {
      auto side = std::make_unique<Side>();
      side->path = path;
      side->pool_name = notnets::testing::UniquePoolName("parity");
      if (GetParam() == Flavor::kSync) {
        side->service = std::make_unique<SyncInventory>(&side->observations);
      } else {
        side->service = std::make_unique<CallbackInventory>(&side->observations);
      }
      ::grpc::ServerBuilder builder;
      int port = 0;
      builder.RegisterService(side->service.get());
      builder.SetMaxReceiveMessageSize(kServerReceiveLimit);
      if (path == Path::kHttp2) {
        builder.AddListeningPort("localhost:0", ::grpc::InsecureServerCredentials(), &port);
      } else {
        notnets::grpc::ServerOptions options;
        options.pool = side->pool_name;
        // As gRPC's sync server, run a handler while another blocks.
        options.worker_threads = 2;
        notnets::grpc::ServeOverPool(&builder, options);
      }
      side->server = builder.BuildAndStart();
      ASSERT_NE(side->server, nullptr);
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
      side->server.reset();
      notnets::Pool::Remove(side->pool_name);
    }
  }

  // Runs `scenario` on both paths with a channel of each, expects the same description from
  // both, and expects the pool channel's calls all to have gone through the pool.
  void ExpectSame(
      const std::function<std::string(Side&, const std::shared_ptr<::grpc::Channel>&)>& scenario,
      const ::grpc::ChannelArguments& arguments = ::grpc::ChannelArguments()) {
    std::string described[2];
    for (int i = 0; i < 2; ++i) {
      auto channel = sides_[i]->Channel(arguments);
      described[i] = scenario(*sides_[i], channel);
      ExpectCallsWent(sides_[i]->path, *channel);
    }
    EXPECT_EQ(described[0], described[1]) << "pool (left) and HTTP/2 (right) differ";
  }

  std::vector<std::unique_ptr<Side>> sides_;
};

INSTANTIATE_TEST_SUITE_P(Servers, ParityTest, ::testing::Values(Flavor::kSync, Flavor::kCallback),
                         [](const ::testing::TestParamInfo<Flavor>& info) {
                           return std::string(info.param == Flavor::kSync ? "Sync" : "Callback");
                         });

TEST_P(ParityTest, UnaryNestedMapsOneofsAndWellKnownTypes) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    std::string out;
    for (const std::string& sku :
         std::vector<std::string>{"", "a", "ab", std::string("\0\xff", 2)}) {
      ClientContext context;
      SetHangDeadline(&context);
      Item item;
      Status status = stub->Get(&context, MakeQuery(sku, 100), &item);
      out += Describe(status) + DescribeItem(item, sku, 100);
    }
    return out;
  });
}

TEST_P(ParityTest, EmptyMessages) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ClientContext ping_context;
    SetHangDeadline(&ping_context);
    Empty empty;
    std::string out = Describe(stub->Ping(&ping_context, Empty(), &empty));
    ClientContext beats_context;
    SetHangDeadline(&beats_context);
    auto reader = stub->Heartbeats(&beats_context, Empty());
    int beats = 0;
    while (reader->Read(&empty)) ++beats;
    return out + " beats " + std::to_string(beats) + " " + Describe(reader->Finish());
  });
}

TEST_P(ParityTest, ErrorWithDetails) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    Query query = MakeQuery("x");
    query.set_fail_code(static_cast<int>(StatusCode::FAILED_PRECONDITION));
    query.set_fail_message("out of stock: \xc3\xa9 \t%");
    query.set_fail_details(std::string("\x08\x09\0\xff details", 13));
    ClientContext context;
    SetHangDeadline(&context);
    Item item;
    Status status = stub->Get(&context, query, &item);
    return Describe(status) + " sku '" + item.sku() + "'";
  });
}

// Status codes a handler may return that are not gRPC's sixteen: those grpc::StatusCode can
// hold (its enumerators span -1 to 16, so its values -32 to 31; another is undefined behaviour,
// which UndefinedBehaviorSanitizer reports in the handler that makes it).
TEST_P(ParityTest, UnusualStatusCodes) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    std::string out;
    for (int code : {17, 31, -1}) {
      Query query = MakeQuery("x");
      query.set_fail_code(code);
      query.set_fail_message("odd");
      ClientContext context;
      SetHangDeadline(&context);
      Item item;
      out += Describe(stub->Get(&context, query, &item)) + "; ";
    }
    // And at the end of a server stream.
    Query query = MakeQuery("x");
    query.set_count(3);
    query.set_fail_after(1);
    query.set_fail_code(20);
    ClientContext context;
    SetHangDeadline(&context);
    auto reader = stub->List(&context, query);
    Item item;
    while (reader->Read(&item)) out += item.sku() + ",";
    return out + Describe(reader->Finish());
  });
}

void AddTestMetadata(ClientContext* context) {
  context->AddMetadata("x-plain", "value with spaces");
  context->AddMetadata("x-multi", "1");
  context->AddMetadata("x-multi", "2");
  context->AddMetadata("x-data-bin", std::string("\0\x01\xfe\xff bytes", 10));
  context->AddMetadata("x-empty", "");
}

TEST_P(ParityTest, MetadataEchoUnaryAndStreams) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    std::string out;
    {
      ClientContext context;
      SetHangDeadline(&context);
      AddTestMetadata(&context);
      Item item;
      Status status = stub->Get(&context, MakeQuery("m"), &item);
      out += Describe(status) + DescribeMetadata(context);
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      AddTestMetadata(&context);
      auto stream = stub->Sync(&context);
      // The server sends its initial metadata with its first message.
      stream->Write(MakeItem("i", 1));
      stream->WaitForInitialMetadata();
      out += " early{" + Describe(context.GetServerInitialMetadata()) + "}";
      Item reply;
      stream->Read(&reply);
      stream->WritesDone();
      Status status = stream->Finish();
      out += Describe(status) + DescribeMetadata(context);
    }
    return out;
  });
}

// Keys gRPC reserves for itself ("grpc-" and pseudo-headers), sent by the client as metadata.
TEST_P(ParityTest, ReservedMetadataKeys) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    std::string out;
    for (const char* key :
         {"grpc-x-reserved", "grpc-timeout", "x-ok", "te", "content-type", "user-agent"}) {
      ClientContext context;
      SetHangDeadline(&context);
      context.AddMetadata(key, "v");
      context.AddMetadata("x-after", "v");
      Item item;
      Status status = stub->Get(&context, MakeQuery("m"), &item);
      out += std::string(key) + ": " + Describe(status) + DescribeMetadata(context) + "\n";
    }
    return out;
  });
}

// Request metadata within and past the server's limit, gRPC's default of 8 KiB
// (GRPC_ARG_MAX_METADATA_SIZE); not near it, where gRPC also counts its own headers, nor far
// past it, where HTTP/2 sometimes closes the connection instead (UNAVAILABLE "Socket closed").
TEST_P(ParityTest, LargeMetadata) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    std::string out;
    for (size_t bytes : {4u << 10, 7u << 10, 9u << 10}) {
      ClientContext context;
      SetHangDeadline(&context);
      context.AddMetadata("x-big", std::string(bytes, 'm'));
      Item item;
      Status status = stub->Get(&context, MakeQuery("m"), &item);
      out += std::to_string(bytes) + ": " + std::to_string(status.error_code()) + " " +
             status.error_message() + "\n";
    }
    return out;
  });
}

// Calls with `bytes` of request metadata, which the server echoes as initial and as trailing
// metadata, in a unary call or in a stream of two replies; what the client saw.
std::string CallWithEchoedMetadata(Inventory::Stub* stub, size_t bytes, bool stream) {
  ClientContext context;
  SetHangDeadline(&context);
  context.AddMetadata("x-big", std::string(bytes, 'm'));
  std::string out = std::to_string(bytes) + ": ";
  if (stream) {
    Query query = MakeQuery("s");
    query.set_count(2);
    auto reader = stub->List(&context, query);
    Item item;
    int read = 0;
    while (reader->Read(&item)) ++read;
    out += "read " + std::to_string(read) + " " + Describe(reader->Finish());
  } else {
    Item item;
    Status status = stub->Get(&context, MakeQuery("m"), &item);
    out += Describe(status) + " item " + item.sku();
  }
  return out + " " + std::to_string(DescribeMetadata(context).size()) + "\n";
}

// The client's limit on the metadata its server sends (GRPC_ARG_MAX_METADATA_SIZE on the
// channel): a limit of 4 KiB refuses 6 KiB. One call, far past the limit: over HTTP/2, gRPC 1.51
// sometimes refuses metadata well under it too once a limit is set (1 KiB under 4 KiB, seen here
// in 5 of 8 runs of four such calls on new servers), and a refusal can break the connection's
// header compression, and with it the next calls to that server.
constexpr int kClientMetadataLimit = 4 << 10;

TEST_P(ParityTest, ServerMetadataOverTheClientsLimitUnary) {
  ExpectSame(
      [](Side&, const auto& channel) {
        return CallWithEchoedMetadata(Inventory::NewStub(channel).get(), 6 << 10, false);
      },
      WithArgument(GRPC_ARG_MAX_METADATA_SIZE, kClientMetadataLimit));
}

TEST_P(ParityTest, ServerMetadataOverTheClientsLimitStream) {
  ExpectSame(
      [](Side&, const auto& channel) {
        return CallWithEchoedMetadata(Inventory::NewStub(channel).get(), 6 << 10, true);
      },
      WithArgument(GRPC_ARG_MAX_METADATA_SIZE, kClientMetadataLimit));
}

TEST_P(ParityTest, LargeMessagesEveryKind) {
  constexpr uint32_t kBlob = 6 * kMiB;
  ExpectSame(
      [](Side&, const auto& channel) {
        auto stub = Inventory::NewStub(channel);
        std::string out;
        {
          ClientContext context;
          SetHangDeadline(&context);
          Item item;
          out += Describe(stub->Get(&context, MakeQuery("big", kBlob), &item));
          out += DescribeItem(item, "big", kBlob);
        }
        {
          ClientContext context;
          SetHangDeadline(&context);
          Query query = MakeQuery("l", kBlob);
          query.set_count(2);
          auto reader = stub->List(&context, query);
          Item item;
          for (int i = 0; reader->Read(&item); ++i) {
            out += DescribeItem(item, "l-" + std::to_string(i), kBlob);
          }
          out += Describe(reader->Finish());
        }
        {
          ClientContext context;
          SetHangDeadline(&context);
          UploadSummary summary;
          auto writer = stub->Upload(&context, &summary);
          writer->Write(MakeItem("u1", kBlob));
          writer->Write(MakeItem("u2", kBlob));
          writer->WritesDone();
          out += Describe(writer->Finish()) + " uploaded " + DescribeSummary(summary);
        }
        {
          ClientContext context;
          SetHangDeadline(&context);
          auto stream = stub->Sync(&context);
          stream->Write(MakeItem("s", kBlob));
          Item reply;
          if (stream->Read(&reply))
            out += " reply " + reply.sku() + " " + std::to_string(reply.blob().size());
          stream->WritesDone();
          out += Describe(stream->Finish());
        }
        return out;
      },
      WithArgument(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, kServerReceiveLimit));
}

TEST_P(ParityTest, MessageSizeLimits) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    std::string out;
    {
      // Over the client's default receive limit of 4 MiB.
      ClientContext context;
      SetHangDeadline(&context);
      Item item;
      out += Describe(stub->Get(&context, MakeQuery("r", 4 * kMiB + 1000), &item));
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      Query query = MakeQuery("l", 5 * kMiB);
      query.set_count(1);
      auto reader = stub->List(&context, query);
      Item item;
      int read = 0;
      while (reader->Read(&item)) ++read;
      out += " read " + std::to_string(read) + Describe(reader->Finish());
    }
    {
      // Over the server's receive limit.
      ClientContext context;
      SetHangDeadline(&context);
      Item item;
      Query query = MakeQuery(std::string(kServerReceiveLimit + 10, 'q'));
      out += Describe(stub->Get(&context, query, &item));
    }
    return out;
  });
}

TEST_P(ParityTest, DeadlineExpiredBeforeTheCall) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() - std::chrono::seconds(1));
    Item item;
    std::string out = Describe(stub->Get(&context, MakeQuery("d"), &item));
    ClientContext stream_context;
    stream_context.set_deadline(std::chrono::system_clock::now() - std::chrono::seconds(1));
    auto reader = stub->List(&stream_context, MakeQuery("d"));
    while (reader->Read(&item)) out += " item";
    return out + Describe(reader->Finish());
  });
}

TEST_P(ParityTest, DeadlineDuringServerProcessing) {
  ExpectSame([](Side& side, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ClientContext context;
    // Long enough for the handler to start on a loaded machine before it passes: a call whose
    // deadline passed first never reaches a handler, on either path, and the server sees nothing.
    SetDeadline(&context, std::chrono::seconds(1));
    Query query = MakeQuery("w");
    query.set_wait_for_cancel(true);
    Item item;
    std::string out = Describe(stub->Get(&context, query, &item));
    bool seen = Eventually([&] { return side.observations.cancellations_seen == 1; });
    return out + (seen ? " server saw it" : " server did not see it");
  });
}

TEST_P(ParityTest, DeadlineDuringStream) {
  ExpectSame([](Side& side, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ClientContext context;
    // Long enough for both items to arrive on a loaded machine before it passes.
    SetDeadline(&context, std::chrono::seconds(1));
    Query query = MakeQuery("w");
    query.set_count(2);
    query.set_wait_for_cancel(true);
    auto reader = stub->List(&context, query);
    std::string out;
    Item item;
    while (reader->Read(&item)) out += DescribeItem(item, item.sku(), 0);
    out += Describe(reader->Finish());
    bool seen = Eventually([&] { return side.observations.cancellations_seen == 1; });
    return out + (seen ? " server saw it" : " server did not see it");
  });
}

TEST_P(ParityTest, ClientCancelsMidStream) {
  ExpectSame([](Side& side, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ClientContext context;
    SetHangDeadline(&context);
    Query query = MakeQuery("c");
    query.set_count(3);
    query.set_wait_for_cancel(true);
    auto reader = stub->List(&context, query);
    std::string out;
    Item item;
    for (int i = 0; i < 3 && reader->Read(&item); ++i) out += DescribeItem(item, item.sku(), 0);
    Eventually([&] { return side.observations.waiting == 1; });
    context.TryCancel();
    while (reader->Read(&item)) out += " more";
    out += Describe(reader->Finish());
    bool seen = Eventually([&] { return side.observations.cancellations_seen == 1; });
    return out + (seen ? " server saw it" : " server did not see it");
  });
}

TEST_P(ParityTest, CallbackClientCancelsUnary) {
  ExpectSame([](Side& side, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ClientContext context;
    SetHangDeadline(&context);
    Query query = MakeQuery("c");
    query.set_wait_for_cancel(true);
    Item item;
    std::promise<Status> done;
    stub->async()->Get(&context, &query, &item, [&](Status s) { done.set_value(std::move(s)); });
    Eventually([&] { return side.observations.waiting == 1; });
    context.TryCancel();
    std::string out = Describe(done.get_future().get());
    bool seen = Eventually([&] { return side.observations.cancellations_seen == 1; });
    return out + (seen ? " server saw it" : " server did not see it");
  });
}

TEST_P(ParityTest, ServerCancels) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ClientContext context;
    SetHangDeadline(&context);
    Query query = MakeQuery("s");
    query.set_server_cancel(true);
    Item item;
    return Describe(stub->Get(&context, query, &item));
  });
}

TEST_P(ParityTest, ServerFailsAfterSomeMessages) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ClientContext context;
    SetHangDeadline(&context);
    AddTestMetadata(&context);
    Query query = MakeQuery("f", 10);
    query.set_count(5);
    query.set_fail_after(3);
    query.set_fail_code(static_cast<int>(StatusCode::DATA_LOSS));
    query.set_fail_message("lost the rest");
    query.set_fail_details("why");
    auto reader = stub->List(&context, query);
    std::string out;
    Item item;
    while (reader->Read(&item)) out += DescribeItem(item, item.sku(), 10);
    Status status = reader->Finish();
    return out + Describe(status) + DescribeMetadata(context);
  });
}

TEST_P(ParityTest, ClientStreamFailsMidway) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ClientContext context;
    SetHangDeadline(&context);
    UploadSummary summary;
    auto writer = stub->Upload(&context, &summary);
    writer->Write(MakeItem("a", 1));
    writer->Write(MakeItem("fail", 1));
    writer->WritesDone();
    return Describe(writer->Finish()) + " summary " + DescribeSummary(summary);
  });
}

TEST_P(ParityTest, HalfCloseAndWriteLast) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    std::string out;
    {
      // The server answers "last" with WriteLast and reads on to the half-close.
      ClientContext context;
      SetHangDeadline(&context);
      auto stream = stub->Sync(&context);
      for (const char* sku : {"x", "last", "y"}) stream->Write(MakeItem(sku, 3));
      stream->WritesDone();
      Item reply;
      while (stream->Read(&reply)) out += reply.sku() + ",";
      out += Describe(stream->Finish());
    }
    {
      // The client's last write and half-close in one.
      ClientContext context;
      SetHangDeadline(&context);
      UploadSummary summary;
      auto writer = stub->Upload(&context, &summary);
      writer->Write(MakeItem("a", 2), ::grpc::WriteOptions().set_buffer_hint());
      writer->WriteLast(MakeItem("b", 2), ::grpc::WriteOptions());
      out += Describe(writer->Finish()) + " summary " + DescribeSummary(summary);
    }
    return out;
  });
}

std::string ListWithWriteLast(const std::shared_ptr<::grpc::Channel>& channel) {
  auto stub = Inventory::NewStub(channel);
  std::string out;
  for (uint32_t count : {1u, 3u}) {
    ClientContext context;
    SetHangDeadline(&context);
    Query query = MakeQuery("wl", 5);
    query.set_count(count);
    query.set_write_last(true);
    auto reader = stub->List(&context, query);
    Item item;
    while (reader->Read(&item)) out += DescribeItem(item, item.sku(), 5);
    out += Describe(reader->Finish());
  }
  return out;
}

// A server stream whose last message goes with the status (WriteLast), after other messages or
// alone. A Foo::Service's streaming method is bridged (docs/grpc.md): the bridge once lost the
// last message when others came before it, and the handler never returned.
TEST_P(ParityTest, ServerStreamWriteLast) {
  ExpectSame([](Side&, const auto& channel) { return ListWithWriteLast(channel); });
}

TEST_P(ParityTest, UnimplementedMethod) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ClientContext context;
    SetHangDeadline(&context);
    Item item;
    return Describe(stub->Missing(&context, MakeQuery("m"), &item));
  });
}

// A call of a service the server does not have (in a program that links its binding): gRPC
// answers UNIMPLEMENTED over HTTP/2, and the pool path gives the same answer through whatever
// client API makes the call.
TEST_P(ParityTest, UnregisteredService) {
  ExpectSame([](Side&, const auto& channel) {
    auto warehouse = ::parity::inventory::v1::Warehouse::NewStub(channel);
    std::string out;
    {
      ClientContext context;
      SetHangDeadline(&context);
      Item item;
      out += "sync " + Describe(warehouse->Get(&context, MakeQuery("w"), &item));
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      Query query = MakeQuery("w");
      Item item;
      std::promise<Status> done;
      warehouse->async()->Get(&context, &query, &item,
                              [&](Status s) { done.set_value(std::move(s)); });
      out += "; callback " + Describe(done.get_future().get());
    }
    ::grpc::CompletionQueue queue;
    void* tag;
    bool ok;
    {
      ClientContext context;
      SetHangDeadline(&context);
      Item item;
      Status status;
      auto call = warehouse->AsyncGet(&context, MakeQuery("w"), &queue);
      call->Finish(&item, &status, reinterpret_cast<void*>(1));
      bool got = queue.Next(&tag, &ok);
      out += "; completion queue " + std::string(got && ok ? "" : "(no completion) ") +
             Describe(status);
    }
    ::grpc::GenericStub generic(channel);
    std::string ignored;
    out += "; generic unary " +
           Describe(GenericUnaryCall(&generic, "/parity.inventory.v1.Warehouse/Get", MakeQuery("w"),
                                     &ignored));
    {
      // A stream, of a method no binding knows.
      ClientContext context;
      SetHangDeadline(&context);
      Status status;
      auto call = generic.PrepareCall(&context, "/parity.inventory.v1.Warehouse/Watch", &queue);
      call->StartCall(reinterpret_cast<void*>(2));
      queue.Next(&tag, &ok);
      call->WritesDone(reinterpret_cast<void*>(3));
      queue.Next(&tag, &ok);
      call->Finish(&status, reinterpret_cast<void*>(4));
      bool got = queue.Next(&tag, &ok);
      out +=
          "; generic stream " + std::string(got && ok ? "" : "(no completion) ") + Describe(status);
    }
    return out;
  });
}

TEST_P(ParityTest, WaitForReady) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ClientContext context;
    SetHangDeadline(&context);
    context.set_wait_for_ready(true);
    Item item;
    return Describe(stub->Get(&context, MakeQuery("r", 5), &item)) + DescribeItem(item, "r", 5);
  });
}

TEST_P(ParityTest, ManyThreadsManyCalls) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    constexpr int kThreads = 8;
    std::vector<std::string> results(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20; ++i) {
          ClientContext context;
          SetHangDeadline(&context);
          Item item;
          std::string sku = std::to_string(t) + "/" + std::to_string(i);
          Status status = stub->Get(&context, MakeQuery(sku, 64), &item);
          if (!status.ok() ||
              !::google::protobuf::util::MessageDifferencer::Equals(item, MakeItem(sku, 64))) {
            results[t] += "unary " + sku + " " + Describe(status) + "; ";
          }
        }
        ClientContext context;
        SetHangDeadline(&context);
        auto stream = stub->Sync(&context);
        for (int i = 0; i < 20; ++i) {
          Item reply;
          std::string sku = std::to_string(t) + ":" + std::to_string(i);
          if (!stream->Write(MakeItem(sku, 8)) || !stream->Read(&reply) ||
              reply.sku() != "re:" + sku) {
            results[t] += "bidi " + sku + "; ";
            break;
          }
        }
        stream->WritesDone();
        results[t] += Describe(stream->Finish());
      });
    }
    for (auto& thread : threads) thread.join();
    std::string out;
    for (const auto& result : results) out += result + "\n";
    return out;
  });
}

// The callback stub on a server stream and on a bidi stream.
class ListReader final : public ::grpc::ClientReadReactor<Item> {
 public:
  ListReader(Inventory::Stub* stub, const Query& query) {
    SetHangDeadline(&context_);
    stub->async()->List(&context_, &query, this);
    StartRead(&item_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    out_ += DescribeItem(item_, item_.sku(), 4);
    StartRead(&item_);
  }
  void OnDone(const Status& status) override { done_.set_value(out_ + Describe(status)); }
  std::string Wait() { return done_.get_future().get(); }

 private:
  ClientContext context_;
  Item item_;
  std::string out_;
  std::promise<std::string> done_;
};

class SyncBidi final : public ::grpc::ClientBidiReactor<Item, Item> {
 public:
  explicit SyncBidi(Inventory::Stub* stub) {
    SetHangDeadline(&context_);
    AddTestMetadata(&context_);
    stub->async()->Sync(&context_, this);
    out_item_ = MakeItem("b0", 4);
    StartWrite(&out_item_);
    StartRead(&in_item_);
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return;
    if (++written_ < 3) {
      out_item_ = MakeItem("b" + std::to_string(written_), 4);
      StartWrite(&out_item_);
    } else {
      StartWritesDone();
    }
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    out_ += in_item_.sku() + ",";
    StartRead(&in_item_);
  }
  void OnDone(const Status& status) override {
    done_.set_value(out_ + Describe(status) + DescribeMetadata(context_));
  }
  std::string Wait() { return done_.get_future().get(); }

 private:
  ClientContext context_;
  Item out_item_;
  Item in_item_;
  int written_ = 0;
  std::string out_;
  std::promise<std::string> done_;
};

TEST_P(ParityTest, CallbackStubStreams) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    Query query = MakeQuery("cb", 4);
    query.set_count(4);
    ListReader list(stub.get(), query);
    std::string out = list.Wait();
    SyncBidi bidi(stub.get());
    return out + " | " + bidi.Wait();
  });
}

TEST_P(ParityTest, CompletionQueueStub) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ::grpc::CompletionQueue queue;
    void* tag;
    bool ok;
    std::string out;
    auto next = [&](intptr_t expected) {
      bool got = queue.Next(&tag, &ok);
      out += (got && reinterpret_cast<intptr_t>(tag) == expected) ? "" : " wrong tag";
      out += ok ? "+" : "-";
    };
    {
      ClientContext context;
      SetHangDeadline(&context);
      AddTestMetadata(&context);
      Item item;
      Status status;
      auto call = stub->AsyncGet(&context, MakeQuery("q", 7), &queue);
      call->Finish(&item, &status, reinterpret_cast<void*>(1));
      next(1);
      out += Describe(status) + DescribeItem(item, "q", 7) + DescribeMetadata(context);
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      UploadSummary summary;
      Status status;
      auto writer = stub->PrepareAsyncUpload(&context, &summary, &queue);
      writer->StartCall(reinterpret_cast<void*>(1));
      next(1);
      for (int i = 0; i < 200; ++i) {
        writer->Write(MakeItem("w" + std::to_string(i), 1), reinterpret_cast<void*>(2));
        next(2);
      }
      writer->WritesDone(reinterpret_cast<void*>(3));
      next(3);
      writer->Finish(&status, reinterpret_cast<void*>(4));
      next(4);
      out += Describe(status) + " count " + std::to_string(summary.count());
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      Status status;
      auto stream = stub->AsyncSync(&context, &queue, reinterpret_cast<void*>(1));
      next(1);
      Item reply;
      for (const char* sku : {"p", "q"}) {
        stream->Write(MakeItem(sku, 1), reinterpret_cast<void*>(2));
        next(2);
        stream->Read(&reply, reinterpret_cast<void*>(3));
        next(3);
        out += reply.sku() + ",";
      }
      stream->WritesDone(reinterpret_cast<void*>(4));
      next(4);
      stream->Read(&reply, reinterpret_cast<void*>(5));
      next(5);
      stream->Finish(&status, reinterpret_cast<void*>(6));
      next(6);
      out += Describe(status);
    }
    {
      ClientContext context;
      SetHangDeadline(&context);
      Query query = MakeQuery("cq", 2);
      query.set_count(3);
      Status status;
      auto reader = stub->AsyncList(&context, query, &queue, reinterpret_cast<void*>(1));
      next(1);
      Item item;
      for (;;) {
        reader->Read(&item, reinterpret_cast<void*>(2));
        next(2);
        if (!ok) break;
        out += DescribeItem(item, item.sku(), 2);
      }
      reader->Finish(&status, reinterpret_cast<void*>(3));
      next(3);
      out += Describe(status);
    }
    queue.Shutdown();
    while (queue.Next(&tag, &ok)) {
    }
    return out;
  });
}

TEST_P(ParityTest, GenericStubUnary) {
  ExpectSame([](Side&, const auto& channel) {
    ::grpc::GenericStub stub(channel);
    std::string bytes;
    std::string out = Describe(
        GenericUnaryCall(&stub, "/parity.inventory.v1.Inventory/Get", MakeQuery("g", 9), &bytes));
    Item item;
    item.ParseFromString(bytes);
    return out + DescribeItem(item, "g", 9);
  });
}

// A GenericStub's callback bidi stream (PrepareBidiStreamingCall) of a typed method.
class GenericBidi final : public ::grpc::ClientBidiReactor<::grpc::ByteBuffer, ::grpc::ByteBuffer> {
 public:
  GenericBidi(::grpc::GenericStub* stub, const std::string& method) {
    SetHangDeadline(&context_);
    stub->PrepareBidiStreamingCall(&context_, method, ::grpc::StubOptions(), this);
    std::string bytes = MakeItem("g0", 4).SerializeAsString();
    ::grpc::Slice slice(bytes);
    out_buffer_ = ::grpc::ByteBuffer(&slice, 1);
    StartWrite(&out_buffer_);
    StartRead(&in_buffer_);
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (ok) StartWritesDone();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    std::vector<::grpc::Slice> slices;
    std::string bytes;
    if (in_buffer_.Dump(&slices).ok()) {
      for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    Item item;
    item.ParseFromString(bytes);
    out_ += item.sku() + ",";
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
};

TEST_P(ParityTest, GenericStubCallbackBidi) {
  ExpectSame([](Side&, const auto& channel) {
    ::grpc::GenericStub stub(channel);
    GenericBidi bidi(&stub, "/parity.inventory.v1.Inventory/Sync");
    return bidi.Wait();
  });
}

// Call credentials on a channel without transport security: gRPC refuses them, and so does the
// pool, which does not carry them, with a word on what to do after gRPC's message.
TEST_P(ParityTest, CallCredentialsOnAnInsecureChannel) {
  ExpectSame([](Side&, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ClientContext context;
    SetHangDeadline(&context);
    context.set_credentials(::grpc::AccessTokenCredentials("secret-token"));
    Item item;
    Status status = stub->Get(&context, MakeQuery("c", 1), &item);
    std::string gRPCs =
        "Established channel does not have a sufficient security level to "
        "transfer call credential.";
    std::string out =
        "status " + std::to_string(status.error_code()) +
        (status.error_message().starts_with(gRPCs) ? " with gRPC's message" : " other message");
    // The channel's calls without them are unaffected.
    ClientContext plain;
    SetHangDeadline(&plain);
    return out + "; then " + Describe(stub->Get(&plain, MakeQuery("c", 1), &item)) +
           DescribeItem(item, "c", 1);
  });
}

// A service whose server left the pool gets what an absent server gives over HTTP/2,
// UNAVAILABLE (which callers retry), not the UNIMPLEMENTED another server of the pool gives for
// methods nobody serves.
TEST(PoolRoutingTest, AServiceWhoseServerLeftIsUnavailableNotUnimplemented) {
  std::string pool_name = notnets::testing::UniquePoolName("parityleft");
  notnets::grpc::ServerOptions options;
  options.pool = pool_name;
  Observations observations;
  SyncInventory inventory(&observations);
  ::grpc::ServerBuilder inventory_builder;
  inventory_builder.RegisterService(&inventory);
  notnets::grpc::ServeOverPool(&inventory_builder, options);
  std::unique_ptr<::grpc::Server> inventory_server = inventory_builder.BuildAndStart();
  ASSERT_NE(inventory_server, nullptr);
  ::parity::inventory::v1::Warehouse::Service warehouse;  // every method UNIMPLEMENTED
  ::grpc::ServerBuilder warehouse_builder;
  warehouse_builder.RegisterService(&warehouse);
  notnets::grpc::ServeOverPool(&warehouse_builder, options);
  std::unique_ptr<::grpc::Server> warehouse_server = warehouse_builder.BuildAndStart();
  ASSERT_NE(warehouse_server, nullptr);

  notnets::grpc::ChannelOptions channel_options;
  channel_options.pool = pool_name;
  std::shared_ptr<::grpc::Channel> channel = notnets::grpc::CreateChannel("", channel_options);
  auto stub = Inventory::NewStub(channel);
  ClientContext served;
  SetHangDeadline(&served);
  Item item;
  Status status = stub->Get(&served, MakeQuery("here"), &item);
  ASSERT_TRUE(status.ok()) << Describe(status);
  inventory_server->Shutdown();
  inventory_server.reset();
  ClientContext left;
  SetHangDeadline(&left);
  status = stub->Get(&left, MakeQuery("gone"), &item);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << Describe(status);
  // A channel that never reached it: the service's name is in the pool, so its server is away.
  std::shared_ptr<::grpc::Channel> fresh = notnets::grpc::CreateChannel("", channel_options);
  ClientContext first;
  SetHangDeadline(&first);
  status = Inventory::NewStub(fresh)->Get(&first, MakeQuery("gone"), &item);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << Describe(status);

  stub.reset();
  channel.reset();
  fresh.reset();
  warehouse_server->Shutdown();
  notnets::Pool::Remove(pool_name);
}

// gRPC's Server::Shutdown() refuses new calls from when it begins, and waits for those in flight,
// which finish as if nothing happened. A call is held in its handler while the server shuts down;
// new calls fail meanwhile (only their code is compared: HTTP/2's message depends on how far the
// channel got in seeing the server go); then the held call is let go and answers.
TEST_P(ParityTest, ShutdownRefusesNewCallsAndFinishesThoseInFlight) {
  ExpectSame([](Side& side, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ClientContext held_context;
    SetHangDeadline(&held_context);
    Query held_query = MakeQuery("held", 10);
    held_query.set_hold(true);
    Item held_item;
    std::promise<Status> held_done;
    stub->async()->Get(&held_context, &held_query, &held_item,
                       [&](Status s) { held_done.set_value(std::move(s)); });
    std::string out;
    if (!Eventually([&] { return side.observations.Held() == 1; })) out += "never held; ";
    std::atomic<bool> shut_down{false};
    std::thread shutdown([&] {
      side.server->Shutdown();
      shut_down = true;
    });
    Status refused;
    bool refusing = Eventually([&] {
      ClientContext context;
      SetHangDeadline(&context);
      Item item;
      refused = stub->Get(&context, MakeQuery("new"), &item);
      // Over HTTP/2 a call that races the server's GOAWAY may be CANCELLED instead; once the
      // channel saw it, every new call gets UNAVAILABLE.
      return refused.error_code() == StatusCode::UNAVAILABLE;
    });
    out += refusing ? "new calls refused; " : "new calls not refused; ";
    if (shut_down) out += "Shutdown() returned with a call in flight; ";
    side.observations.ReleaseHeld();
    Status held_status = held_done.get_future().get();
    out += "held call: " + Describe(held_status) + DescribeItem(held_item, "held", 10);
    shutdown.join();
    return out;
  });
}

// Past the deadline of Server::Shutdown(deadline), gRPC cancels the calls still in flight: their
// handlers see it (IsCancelled, OnCancel), and their clients get UNAVAILABLE whatever the
// handlers answer.
TEST_P(ParityTest, ShutdownCancelsTheCallsInFlightAtItsDeadline) {
  ExpectSame([](Side& side, const auto& channel) {
    auto stub = Inventory::NewStub(channel);
    ClientContext context;
    SetHangDeadline(&context);
    Query query = MakeQuery("waits");
    query.set_wait_for_cancel(true);
    Item item;
    std::promise<Status> done;
    stub->async()->Get(&context, &query, &item, [&](Status s) { done.set_value(std::move(s)); });
    std::string out;
    if (!Eventually([&] { return side.observations.waiting.load() == 1; })) out += "never ran; ";
    side.server->Shutdown(std::chrono::system_clock::now());
    Status status = done.get_future().get();
    return out + Describe(status) + ", the handler saw " +
           std::to_string(side.observations.cancellations_seen.load()) + " cancellation(s)";
  });
}

}  // namespace
}  // namespace notnets::parity
