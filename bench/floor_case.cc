// floor-shm-pingpong: the physical floor under any shared-memory RPC. The two processes pass the
// payload through one 64-byte slot per direction in a small shared memory file, each side
// spin-polling the other's sequence word: no library, no framing, no allocation, no sleeping.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "case.h"
#include "emergency.h"
#include "machine.h"
#include "payload.h"
#include "process.h"

namespace notnets::bench {
namespace {

// One direction of the ping-pong, in a cache line of its own.
struct alignas(64) Slot {
  // The number of the last message written here; 0 before the first. Written last, with
  // release, by the writer; the reader acquires it before reading the rest.
  std::atomic<uint64_t> sequence;
  uint32_t size;
  char payload[64 - sizeof(std::atomic<uint64_t>) - sizeof(uint32_t)];
};
static_assert(sizeof(Slot) == 64 && std::atomic<uint64_t>::is_always_lock_free);

// The shared memory file's contents.
struct Exchange {
  Slot request;
  Slot response;
};
// Largest request a slot carries.
constexpr size_t kFloorMaxPayload = sizeof(Slot::payload);

Status ErrnoStatus(const std::string& what) {
  return Status(StatusCode::INTERNAL, what + ": " + std::strerror(errno));
}

// A mapping of an exchange file; unmapped on destruction.
class ExchangeMapping {
 public:
  ExchangeMapping() = default;
  ~ExchangeMapping() {
    if (exchange_ != nullptr) munmap(exchange_, sizeof(Exchange));
  }
  ExchangeMapping(const ExchangeMapping&) = delete;
  ExchangeMapping& operator=(const ExchangeMapping&) = delete;

  // Maps the file at `path`, first creating it zero-filled if `create` (it must not exist). On
  // failure no file is left behind.
  Status Open(const std::string& path, bool create) {
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
    if (fd < 0) return ErrnoStatus("open " + path);
    void* address = MAP_FAILED;
    Status status;
    if (create && ftruncate(fd, sizeof(Exchange)) != 0) {
      status = ErrnoStatus("ftruncate " + path);
    } else {
      address = mmap(nullptr, sizeof(Exchange), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (address == MAP_FAILED) status = ErrnoStatus("mmap " + path);
    }
    close(fd);
    if (!status.ok()) {
      if (create) unlink(path.c_str());
      return status;
    }
    exchange_ = static_cast<Exchange*>(address);
    return Status::OK;
  }

  Exchange* get() const { return exchange_; }

 private:
  Exchange* exchange_ = nullptr;
};

// Writes the request slot and spins on the response slot.
class FloorClient : public EchoClient {
 public:
  FloorClient(Exchange* exchange, size_t size) : exchange_(exchange), payload_(size) {}

  Status Call() override {
    Slot& request = exchange_->request;
    std::string_view bytes = payload_.Next();
    std::memcpy(request.payload, bytes.data(), bytes.size());
    request.size = static_cast<uint32_t>(bytes.size());
    request.sequence.store(++sequence_, std::memory_order_release);

    Slot& response = exchange_->response;
    while (response.sequence.load(std::memory_order_acquire) != sequence_) {
    }
    char reply[sizeof(Slot::payload)];
    size_t size = std::min<size_t>(response.size, sizeof(reply));
    std::memcpy(reply, response.payload, size);
    return payload_.Check(std::string_view(reply, size));
  }

 private:
  Exchange* const exchange_;
  Payload payload_;
  uint64_t sequence_ = 0;
};

// The exchange file, created by Setup and removed with the case.
class FloorCase : public Case {
 public:
  ~FloorCase() override {
    if (!created_path_.empty()) unlink(created_path_.c_str());
  }

  // Needs two CPUs: two spinning processes sharing one would take turns at every time slice.
  Status Setup(const CaseOptions&, std::vector<std::string>* server_args) override {
    if (UsableCpus() < 2) {
      return Status(StatusCode::FAILED_PRECONDITION,
                    "needs 2 CPUs for its two spinning processes; this process may use " +
                        std::to_string(UsableCpus()));
    }
    std::string path = "/dev/shm/notnets-bench-floor-" + std::to_string(getpid());
    Status status = mapping_.Open(path, /*create=*/true);
    if (!status.ok()) return status;
    created_path_ = path;
    unlink_on_emergency_ = std::make_unique<EmergencyUnlink>(path);
    server_args->push_back(path);
    return Status::OK;
  }

  Status Serve(const std::vector<std::string>& server_args, const ReadyCallback& ready) override {
    if (server_args.size() != 1) {
      return Status(StatusCode::INVALID_ARGUMENT, "expected the exchange file's path");
    }
    Status status = mapping_.Open(server_args[0], /*create=*/false);
    if (!status.ok()) return status;
    std::atomic<bool> stop{false};
    std::thread echo([this, &stop] { Echo(stop); });
    ready("");
    WaitForStopSignal();
    stop.store(true, std::memory_order_relaxed);
    echo.join();
    return Status::OK;
  }

  bool OneClientOnly() const override { return true; }

  // One client only: the exchange has one slot per direction.
  Status Connect(const std::vector<std::string>& server_args, std::string_view,
                 const ClientOptions& options, std::unique_ptr<EchoClient>* client) override {
    if (mapping_.get() != nullptr) {
      return Status(StatusCode::FAILED_PRECONDITION, "floor-shm-pingpong has one client only");
    }
    if (server_args.size() != 1 || options.payload_size > kFloorMaxPayload) {
      return Status(StatusCode::INVALID_ARGUMENT, "expected the exchange file's path and at most " +
                                                      std::to_string(kFloorMaxPayload) +
                                                      " bytes a request");
    }
    Status status = mapping_.Open(server_args[0], /*create=*/false);
    if (!status.ok()) return status;
    *client = std::make_unique<FloorClient>(mapping_.get(), options.payload_size);
    return Status::OK;
  }

  size_t MaxPayload() const override { return kFloorMaxPayload; }

 private:
  // Copies each request into the response slot until `stop`.
  void Echo(const std::atomic<bool>& stop) {
    Slot& request = mapping_.get()->request;
    Slot& response = mapping_.get()->response;
    uint64_t last = 0;
    for (;;) {
      uint64_t sequence;
      while ((sequence = request.sequence.load(std::memory_order_acquire)) == last) {
        if (stop.load(std::memory_order_relaxed)) return;
      }
      size_t size = std::min<size_t>(request.size, sizeof(Slot::payload));
      std::memcpy(response.payload, request.payload, size);
      response.size = static_cast<uint32_t>(size);
      response.sequence.store(sequence, std::memory_order_release);
      last = sequence;
    }
  }

  ExchangeMapping mapping_;
  std::string created_path_;
  std::unique_ptr<EmergencyUnlink> unlink_on_emergency_;
};

const CaseRegistration kRegistration(10, "floor-shm-pingpong",
                                     [] { return std::make_unique<FloorCase>(); });

}  // namespace
}  // namespace notnets::bench
