// capnp-rpc-uds: Cap'n Proto RPC (EzRpcServer and EzRpcClient, kj's event loop) over a Unix-domain
// socket, with the Echo interface of echo.capnp. Each client has its own connection and event
// loop, on the thread that made it.
#include <capnp/ez-rpc.h>
#include <fcntl.h>
#include <kj/async-io.h>
#include <unistd.h>

#include <thread>

#include "case.h"
#include "echo.capnp.h"
#include "emergency.h"
#include "payload.h"
#include "process.h"

namespace notnets::bench {
namespace {

// The server side of echo.capnp: replies with the request's payload.
class EchoImpl final : public Echo::Server {
 protected:
  kj::Promise<void> echo(EchoContext context) override {
    context.getResults().setPayload(context.getParams().getPayload());
    return kj::READY_NOW;
  }
};

// A client with its own connection and event loop.
class CapnpClient : public EchoClient {
 public:
  CapnpClient(std::string_view address, size_t size)
      : address_(address),
        client_(kj::StringPtr(address_.c_str())),
        echo_(client_.getMain<Echo>()),
        payload_(size) {}
  // kj's destructors may throw; EchoClient's may not.
  ~CapnpClient() noexcept override {}

  Status Call() override {
    std::string_view bytes = payload_.Next();
    auto request = echo_.echoRequest();
    request.setPayload(
        capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(bytes.data()), bytes.size()));
    try {
      auto response = request.send().wait(client_.getWaitScope());
      capnp::Data::Reader reply = response.getPayload();
      return payload_.Check(
          std::string_view(reinterpret_cast<const char*>(reply.begin()), reply.size()));
    } catch (const kj::Exception& exception) {
      return Status(StatusCode::UNAVAILABLE, exception.getDescription().cStr());
    }
  }

 private:
  const std::string address_;  // before client_, which reads it while constructed
  capnp::EzRpcClient client_;
  Echo::Client echo_;
  Payload payload_;
};

// Serves `server`'s event loop until WaitForStopSignal returns in another thread.
void ServeUntilStopped(capnp::EzRpcServer* server) {
  int stop[2];
  if (pipe2(stop, O_CLOEXEC) != 0) return;
  std::thread waiter([&stop] {
    WaitForStopSignal();
    char byte = 0;
    ssize_t ignored = write(stop[1], &byte, 1);
    (void)ignored;
  });
  auto input = server->getLowLevelIoProvider().wrapInputFd(stop[0]);
  char byte;
  input->read(&byte, 1).wait(server->getWaitScope());
  waiter.join();
  close(stop[1]);
  input = nullptr;
  close(stop[0]);
}

// Serves and calls over a socket path chosen by Setup (removed with the case).
class CapnpCase : public Case {
 public:
  ~CapnpCase() override {
    if (!path_.empty()) unlink(path_.c_str());
  }

  Status Setup(const CaseOptions&, std::vector<std::string>* server_args) override {
    path_ = "/tmp/notnets-bench-capnp-" + std::to_string(getpid()) + ".sock";
    unlink(path_.c_str());
    unlink_on_emergency_ = std::make_unique<EmergencyUnlink>(path_);
    server_args->push_back(path_);
    return Status::OK;
  }

  Status Serve(const std::vector<std::string>& server_args, const ReadyCallback& ready) override {
    if (server_args.size() != 1) {
      return Status(StatusCode::INVALID_ARGUMENT, "expected the socket's path");
    }
    std::string address = "unix:" + server_args[0];
    try {
      capnp::EzRpcServer server(kj::heap<EchoImpl>(), kj::StringPtr(address.c_str()));
      server.getPort().wait(server.getWaitScope());  // bound and listening
      ready(address);
      ServeUntilStopped(&server);
    } catch (const kj::Exception& exception) {
      return Status(StatusCode::UNAVAILABLE, exception.getDescription().cStr());
    }
    return Status::OK;
  }

  Status Connect(const std::vector<std::string>&, std::string_view endpoint,
                 const ClientOptions& options, std::unique_ptr<EchoClient>* client) override {
    try {
      *client = std::make_unique<CapnpClient>(endpoint, options.payload_size);
    } catch (const kj::Exception& exception) {
      return Status(StatusCode::UNAVAILABLE, exception.getDescription().cStr());
    }
    return Status::OK;
  }

 private:
  std::string path_;
  std::unique_ptr<EmergencyUnlink> unlink_on_emergency_;
};

const CaseRegistration kRegistration(60, "capnp-rpc-uds",
                                     [] { return std::make_unique<CapnpCase>(); });

}  // namespace
}  // namespace notnets::bench
