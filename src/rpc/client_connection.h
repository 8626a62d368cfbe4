// The client end of one connection: call slots, the request ring it writes, the response ring it
// reads, and the thread that completes asynchronous calls.
#ifndef NOTNETS_RPC_CLIENT_CONNECTION_H_
#define NOTNETS_RPC_CLIENT_CONNECTION_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "channel/connection.h"
#include "channel/ring.h"
#include "notnets/channel.h"
#include "notnets/peer_identity.h"
#include "pool/doorbell.h"
#include "pool/process_identity.h"
#include "rpc/buffer_cache.h"
#include "rpc/call_slot_table.h"
#include "rpc/method_table.h"
#include "rpc/mutex.h"
#include "rpc/replica_load.h"

namespace notnets::internal {

class ClientConnection {
 public:
  static Status Connect(std::shared_ptr<Pool> pool, std::string_view service,
                        const ChannelOptions& options, std::unique_ptr<ClientConnection>* out);
  // Connects to the replica of `service` found as `found`.
  static Status ConnectTo(std::shared_ptr<Pool> pool, std::string_view service,
                          const ServiceView& found, const ChannelOptions& options,
                          std::unique_ptr<ClientConnection>* out);
  // Completes outstanding asynchronous calls with CANCELLED and leaves the connection.
  ~ClientConnection();

  // The request of a call: bytes to copy, or a buffer to hand over.
  struct Request {
    std::string_view bytes;
    MessageBuffer* buffer = nullptr;
  };

  // Why a call failed, as far as sending it elsewhere is concerned.
  struct Fate {
    bool server_lost = false;  // the server went away (shut down, died, broke the protocol)
    bool unsent = false;       // ... and never read the request: no handler ran
  };

  // Where an asynchronous call goes when its server went away without reading it (or, for an
  // at-most-once call, at all): the channel, which sends it to another replica or the service's
  // next server, or completes it with `failure`. `attempt` is the attempt that failed. Called on
  // the connection's completion thread.
  class Resender {
   public:
    virtual void Resend(std::string_view method, std::string_view request, ClientContext* context,
                        CallCallback done, int attempt, const Status& failure) = 0;

   protected:
    ~Resender() = default;
  };
  // Set before the connection's first call; without one, such calls fail as the others do.
  void set_resender(Resender* resender) { resender_ = resender; }

  // Runs a call to completion on the calling thread.
  Status CallSync(std::string_view method, Request request, ClientContext* context,
                  ReceivedMessage* response, Fate* fate);
  // Starts attempt `attempt` of a call whose result goes to `done`. With `inline_wait`, first
  // waits that long for the answer on the calling thread (reading responses itself, as CallSync
  // does). False if the server was found gone before the call was sent: then `*unsent` says why,
  // and `done` and `request` are left as they were, for another server.
  bool CallAsync(std::string_view method, Request request, ClientContext* context,
                 CallCallback&& done, std::chrono::nanoseconds inline_wait, int attempt,
                 Status* unsent);

  BufferCache& cache() { return *cache_; }

  // Reads the responses that arrived and runs their completions on the calling thread; false if
  // there were none (or the connection is being released).
  bool Poll() {
    if (!Enter()) return false;
    bool drained = TryDrain();
    Leave();
    return drained;
  }

  // True if the server this connection reaches registered `method`.
  bool HasMethod(std::string_view method) const {
    return methods_.Find(method) != MethodTable::kNotFound;
  }

  // True once the server has gone: it closed the connection, or (asked of the kernel at most
  // every few milliseconds) its process no longer exists.
  bool ServerGone();
  // Why the server takes no more calls on this connection (it refused it at its connection
  // limit, shut down, ...), as ServerGone last found; OK while it takes them.
  Status GoneStatus() { return PeerStatus(false); }

  // Once the server has gone (asked of the kernel now) and no call uses the connection, gives
  // back everything it holds in the pool: its cached blocks, and the connection itself, with the
  // blocks a dead server's endpoint held (DetachConnection). Later calls on it fail with
  // UNAVAILABLE as calls to a gone server do. Blocks the application still holds
  // (ReceivedMessage, MessageBuffer) go straight to the pool when released. True once released.
  bool ReleaseIfServerGone() NOTNETS_EXCLUDES(release_mutex_);
  const std::string& service() const { return service_; }

  // The directory entry of the replica this connection reaches.
  const ServiceRef& replica() const { return ref_; }
  // True while that entry is active: false once its server drains or shuts down, when new calls
  // should go to another replica.
  bool ReplicaOpen() const { return visibility_->Consume(entry_state_) == open_state_; }
  // Calls of this process outstanding on the connection now.
  uint32_t Outstanding() const {
    return users_.load(std::memory_order_relaxed) +
           async_outstanding_.load(std::memory_order_relaxed);
  }
  // The replica's published load (ReplicaLoad::Read).
  bool ReadLoad(uint32_t* workers, uint32_t* busy) { return load_->Read(workers, busy); }

 private:
  struct Completion {
    CallCallback done;
    CallResult result;
  };
  // An asynchronous call to hand to the Resender, with copies of what it needs of the slot.
  struct Resend {
    std::string method;
    std::string request;
    ClientContext* context = nullptr;
    CallCallback done;
    int attempt = 0;
    Status failure;
  };
  // Up to N objects on the stack of a drain, constructed only as they are added: a drain must
  // neither allocate nor clear room for a whole batch it rarely fills.
  template <typename T, size_t N>
  class StackBatch {
   public:
    static constexpr size_t kCapacity = N;
    // User-provided, so that even value-initialization leaves the storage alone.
    StackBatch() {}
    StackBatch(const StackBatch&) = delete;
    StackBatch& operator=(const StackBatch&) = delete;
    ~StackBatch() { Clear(); }
    size_t size() const { return size_; }
    bool full() const { return size_ == N; }
    T& operator[](size_t i) { return *std::launder(reinterpret_cast<T*>(&storage_[i])); }
    // Default-initialized, not value-initialized: members without initializers (a callback's
    // storage) are not cleared first.
    T* Add() { return new (&storage_[size_++]) T; }
    void Clear() {
      for (size_t i = 0; i < size_; ++i) std::destroy_at(&(*this)[i]);
      size_ = 0;
    }

   private:
    struct alignas(T) Storage {
      unsigned char bytes[sizeof(T)];
    };
    Storage storage_[N];
    size_t size_ = 0;
  };
  // The completions of one drain, run once it has let go of the response ring.
  using CompletionBatch = StackBatch<Completion, 16>;

  // `epoch`: the pool lease's epoch read before the connection was created (Lease::epoch).
  ClientConnection(std::shared_ptr<Pool> pool, std::string service, const ConnectionView& view,
                   uint64_t epoch);

  // Counts a call that uses the connection's pool memory; false (nothing counted) once the
  // connection is being released. ReleaseIfServerGone publishes `releasing_` and then reads
  // `users_`, while a call counts itself and then reads `releasing_` (all sequentially
  // consistent): either the call sees the release and leaves, or the release sees the call and
  // waits for a later turn.
  bool Enter() {
    users_.fetch_add(1);
    if (!releasing_.load()) return true;
    users_.fetch_sub(1);
    return false;
  }
  void Leave() { users_.fetch_sub(1, std::memory_order_release); }
  // Gives back what Connect counted against the process's quota for the connection.
  void ReturnQuota();
  // Stops and joins the completion thread.
  void StopCompletionThread() NOTNETS_EXCLUDES(completion_mutex_);

  // A call ready to be sent: its slot, and its request for the ring position it claimed.
  struct Outgoing {
    uint32_t slot = 0;
    uint64_t position = 0;
    Message request;
    // An asynchronous call that made the count of outstanding ones 1: it wakes the completion
    // thread.
    bool ends_idleness = false;
  };
  // Calls held back by one thread while it runs the callbacks of a drained batch of this
  // connection's responses (RunCompletions), to be sent when they have returned. On that
  // thread's stack; `held_` names the innermost, `outer` the one it interrupted.
  struct SendBatch {
    ClientConnection* connection;
    SendBatch* outer;
    StackBatch<Outgoing, 16> calls;
  };
  static thread_local SendBatch* held_;

  // Prepares a call: a slot, its request, a claimed ring position. On success `*done` (if given)
  // has moved into the slot and the call must be sent (Send); on failure `*done` is intact.
  // An asynchronous call's slot also keeps its request, position and `attempt`.
  Status Start(std::string_view method, Request request, ClientContext* context, CallState state,
               CallCallback* done, int attempt, Outgoing* outgoing);
  // Publishes a started call's request and rings the doorbell, after the calls this thread holds
  // back for this connection (the server reads the ring in order). With `may_defer`, a thread
  // running callbacks of this connection's responses holds the call back instead: the calls of
  // one batch of callbacks then go out together, with one doorbell ring.
  void Send(const Outgoing& outgoing, bool may_defer);
  // Sends the calls this thread holds back for this connection, in every batch it is running.
  void SendHeld();
  void SendHeld(SendBatch* batch);
  // Publishes one request in the ring.
  void Publish(const Outgoing& outgoing);
  // True if the server has not read the request published at ring `position`.
  bool NeverReached(uint64_t position);
  // Copies the payload of `request`, a request this connection sent, into `*bytes`: from the
  // descriptor, or from its block while the block is still published to the server (which then
  // never took it, and only this side frees it). False if the server took the block.
  bool RecoverPayload(const Message& request, std::string* bytes);
  // Encodes the request of a call (call_codec.h), with the caller's remaining time.
  Status BuildRequest(uint32_t method_index, Request request, ClientContext* context,
                      Message* message);
  // Turns a response into the caller's status, message and metadata.
  Status Finish(const Message& response, ClientContext* context, ReceivedMessage* message);
  // Releases the blocks of a response from the server without reading them.
  void Discard(const Message& message);
  // Counts a response read for a call of its connection (ConnectionCounters): its status `code`,
  // and its time if it was timed (`sent_ns` not 0); `*now_ns` is the clock read once per batch.
  void CountAnswer(uint32_t code, int64_t sent_ns, int64_t* now_ns) NOTNETS_REQUIRES(polling_);
  // Reads up to a batch of responses and returns how many; the callbacks of completed
  // asynchronous calls go to `completions`, to run outside the poll.
  size_t DrainResponses(CompletionBatch* completions) NOTNETS_REQUIRES(polling_);
  // Runs the callbacks of a drained batch in order, and empties it; calls they start are held
  // back until they all returned.
  void RunCompletions(CompletionBatch* completions);
  // Reads the responses the ring holds, batch by batch, running each batch's callbacks; false if
  // there was nothing to read or another thread is reading.
  bool TryDrain();
  // Sleeps up to `nap`, less if the server rings after publishing a response: for a caller
  // waiting for the response of `slot`, or of any call (nullptr).
  void SleepForResponse(std::chrono::microseconds nap, const CallSlot* slot);
  // Gives up on a waiting call: true if this thread won it (and must report `status`).
  bool Abandon(uint32_t index, CallState from);
  // Tells the server's handler of `call_id` that the caller gave up.
  void SendCancel(uint64_t call_id);
  // Maps the server's segment over the placeholder once the server has created it (and unlinks
  // the client's), or marks an impostor's file as the server gone.
  void AttachServerSegment() NOTNETS_EXCLUDES(attach_mutex_);
  // Why calls cannot complete, if the server went away; OK while it is there.
  // `check_process` also asks the kernel whether the server process still exists (a syscall).
  Status PeerStatus(bool check_process);
  // PeerStatus(false).ok() without building a status: the check every call makes.
  bool ServerLooksPresent() const {
    if (server_gone_.load(std::memory_order_relaxed) != kServerPresent) return false;
    // The process rejoined under a new identity since this connection was made: its peers
    // reclaimed the connection, so PeerStatus must not read it.
    if (lease_->epoch() != epoch_) return false;
    // Not the placeholder: another thread may be mapping the server's segment over it.
    if (!server_attached_.load(std::memory_order_acquire)) return true;
    return visibility_->Consume(&view_.responses->closed) == kOpen;
  }

  void EnsureCompletionThread() NOTNETS_EXCLUDES(completion_mutex_);
  void CompletionLoop();
  // Fails async calls that are past their deadline, cancelled, or whose server went away; of
  // the latter, those the server never read (and at-most-once ones) go to `resends` instead,
  // each counted in `users_` until it has been handed over.
  void ExpireAsyncCalls(std::vector<Completion>* completions, std::vector<Resend>* resends);
  // Wakes the completion thread from its idle wait.
  void WakeCompletionThread() NOTNETS_EXCLUDES(completion_mutex_);

  std::shared_ptr<Pool> pool_;
  const Visibility* visibility_;
  Lease* lease_;  // the pool mapping's
  // The identity the connection belongs to: it writes only while it is the lease's (MayWrite).
  const uint64_t epoch_;
  std::string service_;
  const std::string* peer_;  // interned: contexts may outlive the channel
  Allocator allocator_;
  ConnectionView view_;
  ProcessIdentity server_;
  uint32_t server_uid_ = 0;  // read once from the directory entry
  Mutex attach_mutex_;       // held while mapping the server's segment
  // True once the server's segment is mapped, or was refused.
  std::atomic<bool> server_attached_{false};
  // The server rings it after each response (ServerConnection::response_bell); set before
  // server_attached_, if the pool is coherent and the server's segment was mapped.
  Doorbell response_bell_;
  // What Finish tells each call's context: pid and host from the directory entry at connect,
  // uid and gid from the server's segment, set before server_attached_ (no response is read
  // before it).
  PeerIdentity server_identity_;
  ServiceRef ref_;
  const SharedWord* entry_state_ = nullptr;
  uint64_t open_state_ = 0;  // the entry's state word while the replica takes calls
  std::unique_ptr<ReplicaLoad> load_;
  Resender* resender_ = nullptr;
  MethodTable methods_;
  std::shared_ptr<BufferCache> cache_;
  RingWriter requests_;
  Doorbell doorbell_;  // rung after each request or batch of them, in case the server sleeps
  RingReader responses_;
  TryFlag polling_;  // held by the thread reading `responses_`
  // The values last stored in the connection's counters: their writer never reads them back.
  struct Counts {
    uint64_t calls_answered = 0;
    uint64_t calls_failed = 0;
    uint64_t latency_sum_ns = 0;
    uint64_t latency[kLatencyBuckets] = {};
  };
  Counts counts_ NOTNETS_GUARDED_BY(polling_);
  CallSlotTable slots_;
  enum ServerPresence : uint32_t {
    kServerPresent,
    kServerShutDown,
    kServerDied,
    kServerRefused,     // it closed the connection over garbage from us
    kServerMisbehaved,  // it sent us garbage
    kServerFull,        // it refused the connection: at its connection limit
    kServerForbids,     // it refused the connection: this process's uid and gid are not allowed
    kSelfFenced,        // this process lost its lease (or rejoined since): the connection was
                        // reclaimed
    kServerImpostor,    // the server's segment is not the server's
  };
  std::atomic<uint32_t> server_gone_{kServerPresent};  // latched once the server is gone
  std::atomic<int64_t> next_gone_check_ns_{0};         // coarse monotonic clock, for ServerGone

  Mutex completion_mutex_;
  CondVar completion_wakeup_;
  std::atomic<bool> completion_started_{false};
  // The completion thread waits on `completion_wakeup_` only while this is 0: the call that makes
  // it 1 wakes it, later ones need not.
  std::atomic<uint32_t> async_outstanding_{0};
  std::atomic<bool> stopping_{false};
  std::thread completion_thread_ NOTNETS_GUARDED_BY(completion_mutex_);
  std::vector<int> completion_cpus_;  // ChannelOptions::completion_cpus; set before the first call
  std::chrono::steady_clock::time_point next_process_check_;  // completion thread only

  uint64_t quota_bytes_ = 0;            // the connection block, counted against the process's quota
  std::atomic<uint32_t> users_{0};      // calls in CallSync or CallAsync (Enter)
  std::atomic<bool> releasing_{false};  // calls stay out (Enter)
  Mutex release_mutex_;                 // one ReleaseIfServerGone at a time
  bool released_ NOTNETS_GUARDED_BY(release_mutex_) = false;
};

}  // namespace notnets::internal

#endif  // NOTNETS_RPC_CLIENT_CONNECTION_H_
