// The server end of a streaming gRPC call over the pool: the messages buffered each way, the
// client's operations waiting for them, and the reactor's operations and reactions.
#ifndef NOTNETS_GRPC_SERVER_STREAM_H_
#define NOTNETS_GRPC_SERVER_STREAM_H_

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "grpc/caller_stand_ins.h"
#include "grpc/cancel_watcher.h"
#include "grpc/live_calls.h"
#include "grpc/message_limits.h"
#include "notnets/grpc/binding.h"
#include "notnets/server.h"

namespace notnets::grpc::internal {

// Owned by shared_ptr: the table's, and each run of its reactions deferred to another thread.
class ServerStream final : public WatchedCall, public std::enable_shared_from_this<ServerStream> {
 public:
  // A stream opened by the notnets call `open`, answered when the reactor finishes.
  ServerStream(uint64_t id, const MethodBinding* method, const MessageLimits* limits,
               notnets::ServerCall* open, CancelWatcher* watcher, const CallerStandIns* stand_ins,
               LiveCalls* live);
  ~ServerStream() override;

  uint64_t id() const { return id_; }
  // Keeps the stream's method, made for this stream alone (a generic call's), as long as it.
  void Keep(std::unique_ptr<const MethodBinding> method) { owned_method_ = std::move(method); }
  // Parses the single request of a server-streaming call.
  notnets::Status ParseRequest(std::string_view bytes);
  // Calls the method (which attaches its reactor) and starts watching for cancellation.
  void Start(::grpc::Service* service);
  // Answers the open call with `status` instead of starting (the stream is then dropped).
  void Refuse(const notnets::Status& status);

  // The reactor's side (binding.h).
  ::grpc::CallbackServerContext* context() { return &context_; }
  const MessageLite* request() const { return request_.get(); }
  MessageLite* response() { return response_.get(); }
  void Bind(StreamReactions* reactions);
  void SendInitialMetadata();
  void Read(MessageLite* message);
  void Write(const MessageLite& message);
  void Finish(::grpc::Status status);

  // The client's side: one stream operation (wire.h), answered now or when it can be.
  void ClientOp(uint8_t op, std::string_view message, notnets::ServerCall* call);

  // True once the stream is over and the client has closed it or is gone, or it ended long
  // ago: the table forgets it.
  bool Forgettable(std::chrono::steady_clock::time_point now);
  // True once OnDone ran.
  bool Done();

  // WatchedCall.
  const notnets::ServerContext* native_context() const override { return open_->context(); }
  void CancelLocked() override;
  void Cancelled() override;

 private:
  LiveCalls::Token live_;  // first: released after everything else of the stream
  // Second: the context refers to the method's name until it goes.
  std::unique_ptr<const MethodBinding> owned_method_;
  // Queues a reaction; RunReactions runs the queue on one thread at a time, never under the lock
  // and never nested, so a reaction may start the next operation.
  void Post(std::function<void()> reaction) NOTNETS_REQUIRES(mutex_);
  void RunReactions() NOTNETS_EXCLUDES(mutex_);
  // For operations the reactor calls: gRPC holds the reactor's lock there, so its reactions
  // must not run on this thread. The deferred run keeps the stream alive until it is over.
  void RunReactionsElsewhere();
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref();
  // Under the lock: the initial metadata goes out (with the first message, or at the end).
  void SendInitialMetadataLocked() NOTNETS_REQUIRES(mutex_);
  void AnswerMetadataLocked() NOTNETS_REQUIRES(mutex_);
  // Takes the buffered messages a read's answer carries (wire.h) off `outbound_`, letting a
  // held write in as room frees.
  std::string TakeReadAnswerLocked() NOTNETS_REQUIRES(mutex_);
  // True while `outbound_` takes another message (wire.h: kStreamWindow, kStreamWindowBytes).
  bool OutboundRoomLocked() const NOTNETS_REQUIRES(mutex_);
  void EndLocked() NOTNETS_REQUIRES(mutex_);
  static void Answer(notnets::ServerCall* call, const notnets::Status& status);

  const uint64_t id_;
  const MethodBinding* method_;
  const MessageLimits* limits_;  // the server's: a client-streaming response's send limit
  notnets::ServerCall* open_;    // answered by Finish; null after
  CancelWatcher* watcher_;
  ::grpc::CallbackServerContext context_;
  std::unique_ptr<MessageLite> request_;
  std::unique_ptr<MessageLite> response_;
  StreamReactions* reactions_ = nullptr;  // owned; deleted after OnDone
  // Held by: the method until it returned, the reactor until Finish, a cancellation being
  // delivered. OnDone runs when the last goes.
  std::atomic<int> refs_{2};

  ::notnets::internal::Mutex mutex_;
  std::deque<std::function<void()>> reactions_queue_ NOTNETS_GUARDED_BY(mutex_);
  bool running_reactions_ NOTNETS_GUARDED_BY(mutex_) = false;
  std::deque<std::string> inbound_ NOTNETS_GUARDED_BY(mutex_);  // client -> handler
  bool writes_done_ NOTNETS_GUARDED_BY(mutex_) = false;         // the client half-closed
  // The reactor's Read, waiting for a message.
  MessageLite* pending_read_ NOTNETS_GUARDED_BY(mutex_) = nullptr;
  // The client's write, waiting for room.
  notnets::ServerCall* waiting_write_ NOTNETS_GUARDED_BY(mutex_) = nullptr;
  std::deque<std::string> outbound_ NOTNETS_GUARDED_BY(mutex_);  // handler -> client
  size_t outbound_bytes_ NOTNETS_GUARDED_BY(mutex_) = 0;         // their sizes' sum
  std::string held_write_ NOTNETS_GUARDED_BY(mutex_);  // the reactor's Write, waiting for room
  bool write_held_ NOTNETS_GUARDED_BY(mutex_) = false;
  // A message the reactor wrote over the server's send limit: the stream's status, as in gRPC.
  notnets::Status send_failure_ NOTNETS_GUARDED_BY(mutex_);
  // The client's read, waiting for a message.
  notnets::ServerCall* waiting_read_ NOTNETS_GUARDED_BY(mutex_) = nullptr;
  notnets::ServerCall* waiting_metadata_ NOTNETS_GUARDED_BY(mutex_) = nullptr;
  bool metadata_sent_ NOTNETS_GUARDED_BY(mutex_) = false;
  bool finished_ NOTNETS_GUARDED_BY(mutex_) = false;
  bool cancelled_ NOTNETS_GUARDED_BY(mutex_) = false;
  bool closed_ NOTNETS_GUARDED_BY(mutex_) = false;  // the client said it is done
  bool done_ NOTNETS_GUARDED_BY(mutex_) =
      false;  // OnDone ran: nothing refers to the stream any more
  std::chrono::steady_clock::time_point ended_at_ NOTNETS_GUARDED_BY(mutex_);
};

// The streams of one server, by id, and the client operations that arrived before their open.
class StreamTable {
 public:
  // How long an operation for an unknown stream waits for the stream to open (with several
  // workers an open and the next operation can be handled out of order).
  static constexpr std::chrono::milliseconds kParkTimeout{1000};
  // How long a stream that ended is kept for a client that never closed it.
  static constexpr std::chrono::seconds kLinger{10};

  ~StreamTable();
  // Adds a stream; false if its id is taken.
  bool Add(std::shared_ptr<ServerStream> stream);
  // Gives a client operation to its stream, or parks it until the stream opens.
  void Dispatch(uint64_t id, uint8_t op, notnets::ServerCall* call);
  // Drops forgettable streams and answers operations parked too long or cancelled (the server
  // is stopping, the client gave up).
  void Sweep();
  // For the server's teardown: drops the streams whose OnDone ran.
  void ForgetDone();
  // True if the OnDone of every stream in the table ran; `*count`: how many there are.
  bool AllDone(size_t* count);

 private:
  static void Answer(notnets::ServerCall* call);  // NOT_FOUND
  struct Parked {
    uint8_t op;
    notnets::ServerCall* call;
    std::chrono::steady_clock::time_point since;
  };
  ::notnets::internal::Mutex mutex_;
  std::unordered_map<uint64_t, std::shared_ptr<ServerStream>> streams_ NOTNETS_GUARDED_BY(mutex_);
  std::unordered_multimap<uint64_t, Parked> parked_ NOTNETS_GUARDED_BY(mutex_);
};

}  // namespace notnets::grpc::internal

#endif  // NOTNETS_GRPC_SERVER_STREAM_H_
