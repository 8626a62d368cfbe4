// notnets-native, notnets-native-zerocopy, notnets-native-zerocopy-stamp, notnets-native-hosts
// and their non-coherent variants: the native notnets API over a fresh pool. The server is one
// notnets::Service "bench.Echo" with three methods: "Echo" copies the request into the response;
// "EchoZeroCopy" builds the response in place in a pool buffer (one memcpy of the request) and
// sends that buffer; "EchoStamp" does the same but writes only the request's stamps (its first and
// last 8 bytes, see payload.h), as a zero-copy service that forwards or fills a buffer without
// reading it would. The cases differ in their client, which uses the matching kind of call;
// notnets-native-hosts is notnets-native with server and client on two emulated hosts
// (scripts/emulated-hosts.sh: namespaces of their own, host ids of their own, so that they see each
// other by lease; root only). notnets-native-noncoherent and notnets-native-hosts-noncoherent are
// the first and the last over a pool in CoherenceMode::kWriteBackInvalidate: every publish,
// consume, write-back and invalidate runs the CPU's cache-maintenance instructions
// (pool/cache_lines.h), as on memory shared by hosts without coherence. The server is one sole
// server with one worker unless words after the pool's path (native_clients.h) make it a replica
// or give it more workers, as the replicas and workers-step sections do.
// A fourth method, "Hold", answers only when the server stops: it holds the calls outstanding when
// the server-kill section kills the server (server_kill_section.h).
#include <cstdio>
#include <cstring>
#include <mutex>

#include "case.h"
#include "emergency.h"
#include "native_clients.h"
#include "notnets/pool.h"
#include "notnets/server.h"
#include "payload.h"
#include "pool_case.h"
#include "process.h"

namespace notnets::bench {
namespace {

// "Echo": the library copies the response.
Status EchoCopy(ServerContext*, const ReceivedMessage& request, ServerResponse* response) {
  response->Copy(request.view());
  return Status::OK;
}

// Allocates a response of the request's size and fills it with `fill`.
template <typename Fill>
Status EchoInPlace(const ReceivedMessage& request, ServerResponse* response, Fill fill) {
  MessageBuffer buffer;
  Status status = response->Allocate(request.size(), &buffer);
  if (!status.ok()) return status;
  fill(buffer.data());
  buffer.set_size(request.size());
  response->Send(std::move(buffer));
  return Status::OK;
}

// "EchoZeroCopy": one memcpy of the request into a pool buffer.
Status EchoZeroCopy(ServerContext*, const ReceivedMessage& request, ServerResponse* response) {
  return EchoInPlace(request, response, [&request](uint8_t* data) {
    std::memcpy(data, request.data(), request.size());
  });
}

// "EchoStamp": a pool buffer of the request's size with only its stamps written.
Status EchoStamp(ServerContext*, const ReceivedMessage& request, ServerResponse* response) {
  return EchoInPlace(request, response, [&request](uint8_t* data) {
    size_t size = request.size();
    if (size < kStampedSize) {
      std::memcpy(data, request.data(), size);
      return;
    }
    std::memcpy(data, request.data(), 8);
    std::memcpy(data + size - 8, request.data() + size - 8, 8);
  });
}

// "Hold": calls kept unanswered until the server stops, which finishes them so that its Shutdown,
// which waits for them, returns.
class HeldCalls {
 public:
  void Hold(ServerCall* call) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(call);
  }

  void FinishAll() {
    std::lock_guard<std::mutex> lock(mu_);
    for (ServerCall* call : calls_) call->Finish(Status(StatusCode::CANCELLED, "server stopping"));
    calls_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<ServerCall*> calls_;
};

// One pool per case, created by Setup; the server serves all four methods.
class NativeCase : public PoolCase {
 public:
  explicit NativeCase(NativeCallKind kind, CoherenceMode coherence = CoherenceMode::kCoherent)
      : PoolCase(coherence), kind_(kind) {}

  Status Serve(const std::vector<std::string>& server_args, const ReadyCallback& ready) override {
    std::shared_ptr<Pool> pool;
    Status status = AttachPool(server_args, PoolOptions(), &pool);
    if (!status.ok()) return status;
    Service service(kNativeServiceName);
    service.AddMethod("Echo", EchoCopy);
    service.AddMethod("EchoZeroCopy", EchoZeroCopy);
    service.AddMethod("EchoStamp", EchoStamp);
    HeldCalls held;
    service.AddAsyncMethod("Hold", [&held](ServerCall* call) { held.Hold(call); });
    ServerBuilder builder(pool);
    builder.RegisterService(&service);
    status = ApplyServerWords(server_args, &builder);
    if (!status.ok()) return status;
    std::unique_ptr<Server> server;
    status = builder.BuildAndStart(&server);
    if (!status.ok()) return status;
    ready("");
    WaitForStopSignal();
    held.FinishAll();
    server->Shutdown();
    return Status::OK;
  }

  Status Connect(const std::vector<std::string>& server_args, std::string_view,
                 const ClientOptions& options, std::unique_ptr<EchoClient>* client) override {
    if (attached_ == nullptr) {
      PoolOptions pool_options;
      if (options.idle) pool_options.max_process_connections = kIdleHolderMaxConnections;
      Status status = AttachPool(server_args, pool_options, &attached_);
      if (!status.ok()) return status;
    }
    return ConnectNativeClient(attached_, kind_, options, client);
  }

  size_t MaxPayload() const override { return size_t{16} << 20; }

 private:
  static Status AttachPool(const std::vector<std::string>& server_args, const PoolOptions& options,
                           std::shared_ptr<Pool>* pool) {
    if (server_args.empty()) {
      return Status(StatusCode::INVALID_ARGUMENT, "expected the pool's path");
    }
    return Pool::Attach(server_args[0], options, pool);
  }

  // The server's shape from the words after the pool's path (see kNativeReplicaWord,
  // NativeWorkersWords and NativeMaxConnectionsPerClientWord): a sole server with one worker if
  // there are none.
  static Status ApplyServerWords(const std::vector<std::string>& server_args,
                                 ServerBuilder* builder) {
    for (size_t i = 1; i < server_args.size(); ++i) {
      const std::string& word = server_args[i];
      int count = 0;
      unsigned connections = 0;
      if (word == kNativeReplicaWord) {
        builder->ServeAsReplica();
      } else if (std::sscanf(word.c_str(), "min_workers=%d", &count) == 1) {
        builder->SetMinWorkerThreads(count);
      } else if (std::sscanf(word.c_str(), "max_workers=%d", &count) == 1) {
        builder->SetMaxWorkerThreads(count);
      } else if (std::sscanf(word.c_str(), "max_connections_per_client=%u", &connections) == 1) {
        builder->SetMaxConnectionsPerClient(connections);
      } else {
        return Status(StatusCode::INVALID_ARGUMENT, "unknown server word: " + word);
      }
    }
    return Status::OK;
  }

  const NativeCallKind kind_;
  std::shared_ptr<Pool> attached_;  // client process: the pool its clients use
};

// notnets-native with the server on emulated host "server" and the clients on host "client".
class NativeHostsCase : public NativeCase {
 public:
  explicit NativeHostsCase(CoherenceMode coherence = CoherenceMode::kCoherent)
      : NativeCase(NativeCallKind::kCopy, coherence) {}

  std::vector<std::string> Launcher(const std::string& role,
                                    const std::vector<std::string>& server_args) const override {
    return {"/usr/bin/env",
            "bash",
            NOTNETS_EMULATED_HOSTS_SCRIPT,
            "run",
            role == "serve" ? "server" : "client",
            server_args.empty() ? "" : server_args[0]};
  }
};

const CaseRegistration kCopyRegistration(20, "notnets-native", [] {
  return std::make_unique<NativeCase>(NativeCallKind::kCopy);
});
const CaseRegistration kHostsRegistration(21, "notnets-native-hosts",
                                          [] { return std::make_unique<NativeHostsCase>(); });
const CaseRegistration kNoncoherentRegistration(22, "notnets-native-noncoherent", [] {
  return std::make_unique<NativeCase>(NativeCallKind::kCopy, CoherenceMode::kWriteBackInvalidate);
});
const CaseRegistration kHostsNoncoherentRegistration(23, "notnets-native-hosts-noncoherent", [] {
  return std::make_unique<NativeHostsCase>(CoherenceMode::kWriteBackInvalidate);
});
const CaseRegistration kZeroCopyRegistration(30, "notnets-native-zerocopy", [] {
  return std::make_unique<NativeCase>(NativeCallKind::kZeroCopy);
});
const CaseRegistration kStampRegistration(31, "notnets-native-zerocopy-stamp", [] {
  return std::make_unique<NativeCase>(NativeCallKind::kStamp);
});

}  // namespace
}  // namespace notnets::bench
