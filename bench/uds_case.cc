// uds-pingpong: the kernel's IPC floor. A plain request/response over a Unix-domain stream
// socket: the client writes a length-prefixed frame and blocks reading the reply; a server thread
// per connection blocks reading and writes the frame back. No RPC library, no framing beyond the
// length: what any socket-based RPC pays at least for the kernel's part.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "case.h"
#include "emergency.h"
#include "payload.h"
#include "process.h"
#include "socket_io.h"

namespace notnets::bench {
namespace {

// UNAVAILABLE naming `what` and errno.
Status ErrnoStatus(const std::string& what) {
  return Status(StatusCode::UNAVAILABLE, what + ": " + std::strerror(errno));
}

// Fills `address` for `path`; false if the path is too long.
bool MakeAddress(const std::string& path, sockaddr_un* address) {
  *address = {};
  address->sun_family = AF_UNIX;
  if (path.size() >= sizeof(address->sun_path)) return false;
  std::memcpy(address->sun_path, path.c_str(), path.size() + 1);
  return true;
}

// One connected socket; one frame out, one frame back.
class UdsClient : public EchoClient {
 public:
  UdsClient(int fd, size_t size) : fd_(fd), payload_(size) {}
  ~UdsClient() override { close(fd_); }

  Status Call() override {
    Status status = WriteFrame(fd_, payload_.Next());
    if (status.ok()) status = ReadFrame(fd_, &reply_);
    return status.ok() ? payload_.Check(reply_) : status;
  }

 private:
  const int fd_;
  Payload payload_;
  std::string reply_;
};

// The server: one thread accepting, one thread per connection echoing.
class UdsServer {
 public:
  explicit UdsServer(int listener) : listener_(listener) {}

  // Accepts and echoes until Stop.
  void Run() {
    for (;;) {
      int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0 && errno == EINTR) continue;
      if (fd < 0) return;
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) {
        close(fd);
        return;
      }
      fds_.push_back(fd);
      threads_.emplace_back([fd] {
        std::string frame;
        while (ReadFrame(fd, &frame).ok() && WriteFrame(fd, frame).ok()) {
        }
      });
    }
  }

  // Wakes every blocked thread, joins them and closes the sockets.
  void Stop() {
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      shutdown(listener_, SHUT_RDWR);
      for (int fd : fds_) shutdown(fd, SHUT_RDWR);
      threads.swap(threads_);
    }
    for (std::thread& thread : threads) thread.join();
    for (int fd : fds_) close(fd);
  }

 private:
  const int listener_;
  std::mutex mutex_;
  bool stopping_ = false;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

// A socket path chosen by Setup (removed with the case).
class UdsCase : public Case {
 public:
  ~UdsCase() override {
    if (!path_.empty()) unlink(path_.c_str());
  }

  Status Setup(const CaseOptions&, std::vector<std::string>* server_args) override {
    path_ = "/tmp/notnets-bench-uds-" + std::to_string(getpid()) + ".sock";
    unlink(path_.c_str());
    unlink_on_emergency_ = std::make_unique<EmergencyUnlink>(path_);
    server_args->push_back(path_);
    return Status::OK;
  }

  Status Serve(const std::vector<std::string>& server_args, const ReadyCallback& ready) override {
    sockaddr_un address;
    if (server_args.size() != 1 || !MakeAddress(server_args[0], &address)) {
      return Status(StatusCode::INVALID_ARGUMENT, "expected a short socket path");
    }
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) return ErrnoStatus("socket");
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(listener, 128) != 0) {
      Status status = ErrnoStatus("bind/listen " + server_args[0]);
      close(listener);
      return status;
    }
    UdsServer server(listener);
    std::thread acceptor([&server] { server.Run(); });
    ready(server_args[0]);
    WaitForStopSignal();
    server.Stop();
    acceptor.join();
    close(listener);
    return Status::OK;
  }

  Status Connect(const std::vector<std::string>&, std::string_view endpoint,
                 const ClientOptions& options, std::unique_ptr<EchoClient>* client) override {
    sockaddr_un address;
    if (!MakeAddress(std::string(endpoint), &address)) {
      return Status(StatusCode::INVALID_ARGUMENT, "socket path too long");
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return ErrnoStatus("socket");
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      Status status = ErrnoStatus("connect " + std::string(endpoint));
      close(fd);
      return status;
    }
    *client = std::make_unique<UdsClient>(fd, options.payload_size);
    return Status::OK;
  }

 private:
  std::string path_;
  std::unique_ptr<EmergencyUnlink> unlink_on_emergency_;
};

const CaseRegistration kRegistration(15, "uds-pingpong",
                                     [] { return std::make_unique<UdsCase>(); });

}  // namespace
}  // namespace notnets::bench
