// Per-call options and results on the client side, named as in grpc::ClientContext.
#ifndef NOTNETS_CLIENT_CONTEXT_H_
#define NOTNETS_CLIENT_CONTEXT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "notnets/metadata.h"
#include "notnets/peer_identity.h"

namespace notnets {

namespace internal {
class ClientContextAccess;
}  // namespace internal

// Options of one call (deadline, metadata) and what the server sent back besides the message
// (initial metadata, trailers). One context serves one call; it must outlive an asynchronous call.
class ClientContext {
 public:
  ClientContext() = default;
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // The call fails with DEADLINE_EXCEEDED if it has not completed by `deadline`. The remaining
  // time travels to the server, which sees it as ServerContext::deadline().
  void set_deadline(std::chrono::system_clock::time_point deadline);
  void set_deadline(std::chrono::steady_clock::time_point deadline) { deadline_ = deadline; }
  // Sets the deadline to now + `timeout`.
  void set_timeout(std::chrono::nanoseconds timeout) {
    deadline_ = std::chrono::steady_clock::now() + timeout;
  }
  // The deadline, or steady_clock::time_point::max() for none.
  std::chrono::steady_clock::time_point deadline() const { return deadline_; }

  // With true, a call made while the service has no server waits (within its deadline) for one
  // to register instead of failing at once with UNAVAILABLE. As grpc::ClientContext.
  void set_wait_for_ready(bool wait_for_ready) { wait_for_ready_ = wait_for_ready; }
  bool wait_for_ready() const { return wait_for_ready_; }

  // With true, the call runs at most once even when it is retried: it gets a token, kept in this
  // context, that every attempt made with this context carries, and the server answers a retry
  // from the pool's window of recent results instead of running the handler again. The channel
  // itself retries such a call when its server dies (wait-for-ready decides whether it waits for
  // the next server); a retry of a call that a dead server had started gets ABORTED.
  void set_at_most_once(bool at_most_once) { at_most_once_ = at_most_once; }
  bool at_most_once() const { return at_most_once_; }

  // Adds a request header. Keys must be lower-case; values of keys ending in "-bin" may hold any
  // bytes.
  void AddMetadata(const std::string& key, const std::string& value) {
    client_metadata_.emplace(key, value);
  }
  const Metadata& client_metadata() const { return client_metadata_; }

  // Asks for the call to end with CANCELLED. Safe from any thread, before or during the call; the
  // server's handler sees ServerContext::IsCancelled(). A call that already completed keeps its
  // result.
  void TryCancel() { cancel_requested_.store(true, std::memory_order_release); }
  bool cancel_requested() const { return cancel_requested_.load(std::memory_order_acquire); }

  // Valid after the call completed.
  const Metadata& GetServerInitialMetadata() const { return server_initial_metadata_; }
  const Metadata& GetServerTrailingMetadata() const { return server_trailing_metadata_; }

  // "notnets:<pool path>/<service>" once the call has been sent, as grpc::ClientContext::peer().
  std::string peer() const { return peer_ != nullptr ? *peer_ : std::string(); }
  // Who answered, once the server's response arrived (zeros before, and for a call no server
  // answered): its uid and gid as the kernel recorded them (the owner of the server's segment of
  // the connection, which the client refuses unless it is the service's registered user), its
  // pid and host as it wrote them in the pool, as ServerContext::peer_identity() shows the
  // caller to the server.
  const PeerIdentity& server_identity() const { return server_identity_; }

 private:
  friend class internal::ClientContextAccess;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  Metadata client_metadata_;
  Metadata server_initial_metadata_;
  Metadata server_trailing_metadata_;
  // Interned for the life of the process, so that setting it costs no reference count.
  const std::string* peer_ = nullptr;
  PeerIdentity server_identity_;
  std::atomic<bool> cancel_requested_{false};
  bool wait_for_ready_ = false;
  bool at_most_once_ = false;
  uint64_t call_token_ = 0;  // given at the first attempt of an at-most-once call
};

}  // namespace notnets

#endif  // NOTNETS_CLIENT_CONTEXT_H_
