#include "rpc/client_connection.h"

#include <time.h>

#include <cstring>
#include <set>

#include "channel/wait.h"
#include "pool/crash_point.h"
#include "pool/directory.h"
#include "pool/name_file.h"
#include "pool/pool_access.h"
#include "pool/pool_mapping.h"
#include "pool/segment_sweep.h"
#include "rpc/call_codec.h"
#include "rpc/client_context_access.h"
#include "rpc/cpu_affinity.h"

namespace notnets::internal {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kProcessCheckInterval = std::chrono::milliseconds(20);

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Returns a copy of `name` that lives as long as the process: one per pool and service ever
// connected to, so the set stays small.
Mutex peer_names_mutex;
// Never freed: contexts may read the names while the process exits.
std::set<std::string>* peer_names NOTNETS_GUARDED_BY(peer_names_mutex) = nullptr;

const std::string* InternPeerName(const std::string& name) {
  MutexLock lock(&peer_names_mutex);
  if (peer_names == nullptr) peer_names = new std::set<std::string>();
  return &*peer_names->insert(name).first;
}

}  // namespace

Status ClientConnection::Connect(std::shared_ptr<Pool> pool, std::string_view service,
                                 const ChannelOptions& options,
                                 std::unique_ptr<ClientConnection>* out) {
  if (!IsValidRingCapacity(options.max_outstanding_calls)) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "max_outstanding_calls must be a power of two in [" +
                      std::to_string(kMinRingCapacity) + ", " + std::to_string(kMaxRingCapacity) +
                      "], not " + std::to_string(options.max_outstanding_calls));
  }
  if (!IsValidArenaBytes(options.connection_arena_bytes)) {
    return Status(StatusCode::INVALID_ARGUMENT, "connection_arena_bytes must be a multiple of " +
                                                    std::to_string(kArenaGranuleBytes) + " up to " +
                                                    std::to_string(kMaxArenaBytes) + ", not " +
                                                    std::to_string(options.connection_arena_bytes));
  }
  Status cpus = CheckCpus(options.completion_cpus, "completion");
  if (!cpus.ok()) return cpus;
  PoolMapping* mapping = &PoolAccess::mapping(*pool);
  Allocator allocator(mapping);
  Directory directory(mapping, &allocator);
  ServiceView found;
  Status status = directory.Lookup(service, &found);
  Backoff backoff;
  for (auto give_up = Clock::now() + options.wait_for_service;
       !status.ok() && Clock::now() < give_up; status = directory.Lookup(service, &found)) {
    backoff.Wait();
  }
  if (!status.ok()) return status;
  return ConnectTo(std::move(pool), service, found, options, out);
}

Status ClientConnection::ConnectTo(std::shared_ptr<Pool> pool, std::string_view service,
                                   const ServiceView& found, const ChannelOptions& options,
                                   std::unique_ptr<ClientConnection>* out) {
  PoolMapping* mapping = &PoolAccess::mapping(*pool);
  // Before the connection names this process's token: a rejoin in between leaves it unusable,
  // never usable under a token older than its epoch.
  uint64_t epoch = mapping->lease().epoch();
  // A process declared dead may have its half-made connection freed by a server's sweep
  // (FreeUnacceptedConnectionsOfDeadClients): it must not make one. The janitor connects to new
  // replicas without a call's check.
  if (!mapping->lease().MayWrite(epoch)) return mapping->lease().FencedStatus();
  Allocator allocator(mapping);
  Directory directory(mapping, &allocator);
  Status status;
  ServiceEntry* entry = directory.entry(found.ref.index);
  // Read once: the user this connection's requests are granted to, and whose responses it takes.
  auto server_uid = static_cast<uint32_t>(mapping->visibility().Consume(&entry->server_uid));
  // The entry is in memory every process of the pool may write; the name's file is not. A server
  // of a user the name's owner does not let in gets neither the requests nor their metadata.
  NameOwner name_owner;
  if (!ReadNameFile(mapping->path(), service, &name_owner)) {
    return Status(StatusCode::UNAVAILABLE,
                  "refused the server of service '" + std::string(service) + "' in pool " +
                      mapping->path() + ": the name has no owner (no file " +
                      NameFilePath(mapping->path(), service) +
                      "); its directory entry may have been forged by another user of the pool");
  }
  if (!name_owner.Allows(server_uid)) {
    return Status(StatusCode::UNAVAILABLE,
                  "refused the server of service '" + std::string(service) + "' in pool " +
                      mapping->path() + ": it runs as uid " + std::to_string(server_uid) +
                      ", but the name belongs to uid " + std::to_string(name_owner.uid) +
                      ", who does not let that user serve it; its directory entry may have been "
                      "forged by another user of the pool");
  }

  ProcessQuota& quota = mapping->quota();
  if (!quota.TakeConnection()) {
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  "this process holds " + std::to_string(quota.connections()) +
                      " connections in pool " + mapping->path() +
                      ", its quota (PoolOptions::max_process_connections); close channels, or "
                      "raise the quota in the PoolOptions given to Pool::Attach");
  }
  uint64_t block_bytes =
      BlockBytes(SizeClassFor(ConnectionGeometry(options.max_outstanding_calls).payload_bytes()));
  if (!quota.Charge(block_bytes)) {
    quota.ReturnConnection();
    return ProcessMemoryExhausted(*mapping, block_bytes);
  }
  ConnectionView view;
  status = CreateConnection(&allocator, options.max_outstanding_calls,
                            options.connection_arena_bytes, found.ref, server_uid, &view);
  if (!status.ok()) {
    quota.ReturnConnection();
    quota.Add(-static_cast<int64_t>(block_bytes));
    return status;
  }
  std::unique_ptr<ClientConnection> connection(
      new ClientConnection(std::move(pool), std::string(service), view, epoch));
  // From here the connection gives its quota back when it is released or destroyed.
  connection->quota_bytes_ = block_bytes;
  uint64_t heap_bytes = mapping->heap_end() - mapping->heap_offset();
  connection->cache_->SetQuota(
      &quota, options.max_memory_bytes != 0 ? options.max_memory_bytes : heap_bytes / 2,
      "the channel to '" + std::string(service) + "'");
  connection->cache_->UseArenas(view, Side::kClient, "ChannelOptions::connection_arena_bytes");
  connection->server_ =
      ProcessIdentity{static_cast<int32_t>(entry->server_pid.load(std::memory_order_relaxed)),
                      entry->server_token.load(std::memory_order_relaxed)};
  connection->server_uid_ = server_uid;
  connection->completion_cpus_ = options.completion_cpus;
  connection->methods_ = MethodTable(found.methods);
  connection->ref_ = found.ref;
  connection->entry_state_ = &entry->state;
  connection->open_state_ = ServiceStateWord(found.ref.generation, ServiceState::kActive);
  connection->load_ = std::make_unique<ReplicaLoad>(mapping, found.ref);
  connection->server_identity_.pid = connection->server_.pid;
  connection->server_identity_.host = entry->replica.host_id.load(std::memory_order_relaxed);

  CrashPoint("client.before_push_connection");
  uint64_t head = entry->pending_connections.load(std::memory_order_relaxed);
  do {
    view.header->next_pending.store(head, std::memory_order_relaxed);
    mapping->visibility().WriteBack(view.header, sizeof(*view.header));
  } while (!Visibility::CompareExchange(&entry->pending_connections, head, view.block_offset));
  CrashPoint("client.after_push_connection");
  connection->doorbell_ = directory.DoorbellOf(found.ref);
  connection->doorbell_.Ring();
  if (!directory.IsActive(found.ref)) {
    return Status(StatusCode::UNAVAILABLE,
                  "service '" + std::string(service) + "' shut down while connecting; try again");
  }
  *out = std::move(connection);
  return Status::OK;
}

ClientConnection::ClientConnection(std::shared_ptr<Pool> pool, std::string service,
                                   const ConnectionView& view, uint64_t epoch)
    : pool_(std::move(pool)),
      visibility_(&PoolAccess::mapping(*pool_).visibility()),
      lease_(&PoolAccess::mapping(*pool_).lease()),
      epoch_(epoch),
      service_(std::move(service)),
      peer_(InternPeerName("notnets:" + pool_->path() + "/" + service_)),
      allocator_(&PoolAccess::mapping(*pool_)),
      view_(view),
      cache_(std::make_shared<BufferCache>(pool_, view.endpoint(Side::kClient), epoch)),
      requests_(view.request_slots(), view.capacity, &view.responses->peer_consumed,
                &PoolAccess::mapping(*pool_).visibility()),
      responses_(view.response_slots(), view.capacity, &view.requests->peer_consumed,
                 &PoolAccess::mapping(*pool_).visibility()),
      slots_(view.capacity) {}

void ClientConnection::StopCompletionThread() {
  stopping_.store(true);
  std::thread completion_thread;
  {
    MutexLock lock(&completion_mutex_);
    completion_wakeup_.SignalAll();
    completion_thread = std::move(completion_thread_);
  }
  if (completion_thread.joinable()) completion_thread.join();
}

ClientConnection::~ClientConnection() {
  StopCompletionThread();
  MutexLock lock(&release_mutex_);
  if (released_) return;  // no call was left, and the pool has everything back
  ReturnQuota();
  for (uint32_t i = 0; i < slots_.capacity(); ++i) {
    uint32_t expected = kAsyncWaiting;
    if (slots_[i].state.compare_exchange_strong(expected, kFinishing)) {
      auto done = std::move(slots_[i].done);
      done(CallResult{
          Status(StatusCode::CANCELLED, "the channel to service '" + service_ + "' was destroyed"),
          ReceivedMessage()});
    }
  }
  // A fenced process's connections were reclaimed by its peers: it must not touch them.
  if (!lease_->MayWrite(epoch_)) return;
  PoolAccess::mapping(*pool_).visibility().Publish(&view_.requests->closed, kClosedBySender);
  cache_.reset();
  // A dead server will never detach its side (nor accept the connection): free it for both.
  DetachConnection(&allocator_, view_, Side::kClient, !IsAlive(server_));
}

bool ClientConnection::ReleaseIfServerGone() {
  MutexLock lock(&release_mutex_);
  if (released_) return true;
  if (server_gone_.load(std::memory_order_relaxed) == kServerPresent && PeerStatus(true).ok()) {
    return false;
  }
  releasing_.store(true);
  // No call may be running, waiting for a slot, or waiting for its answer: an asynchronous call
  // of a gone server is failed by the completion thread within kProcessCheckInterval, a
  // synchronous one by its caller; a slot left kAbandoned has nobody to answer it.
  bool idle = users_.load() == 0;
  for (uint32_t i = 0; idle && i < slots_.capacity(); ++i) {
    uint32_t state = slots_[i].state.load(std::memory_order_acquire);
    idle = state == kFree || state == kAbandoned;
  }
  if (!idle) {
    releasing_.store(false);
    return false;
  }
  // From here nothing of this process reads or writes the connection: no call can enter, and
  // the completion thread (the only other reader of the response ring) is gone.
  StopCompletionThread();
  released_ = true;
  if (!lease_->MayWrite(epoch_)) {  // fenced: its peers reclaimed it
    ReturnQuota();
    return true;
  }
  visibility_->Publish(&view_.requests->closed, kClosedBySender);
  cache_->Drain();
  // A dead server will never detach its side: free the connection and what its endpoint held,
  // and the names of the segments it had not handed over yet (this one's, and others').
  // A live one (it shut down, or refused us) frees it when it detaches, whichever comes last.
  bool server_dead = !IsAlive(server_);
  DetachConnection(&allocator_, view_, Side::kClient, server_dead);
  if (server_dead) RemoveSegmentsOfDeadCreators(pool_->path());
  ReturnQuota();
  return true;
}

void ClientConnection::ReturnQuota() {
  ProcessQuota& quota = PoolAccess::mapping(*pool_).quota();
  quota.ReturnConnection();
  quota.Add(-static_cast<int64_t>(quota_bytes_));
}

bool ClientConnection::ServerGone() {
  // The coarse clock costs a few nanoseconds; the process check is a few system calls.
  struct timespec now {};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  int64_t now_ns = int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
  bool check_process = now_ns >= next_gone_check_ns_.load(std::memory_order_relaxed);
  if (!check_process && ServerLooksPresent()) return false;
  if (check_process) {
    next_gone_check_ns_.store(now_ns + std::chrono::nanoseconds(kProcessCheckInterval).count(),
                              std::memory_order_relaxed);
  }
  return !PeerStatus(check_process).ok();
}

void ClientConnection::AttachServerSegment() {
  MutexLock lock(&attach_mutex_);
  if (server_attached_.load(std::memory_order_relaxed)) return;
  ServerSegment found = internal::AttachServerSegment(
      pool_->path(), ServerOfConnection{server_.token, server_uid_}, &view_);
  if (found == ServerSegment::kNotYet) return;
  if (found == ServerSegment::kImpostor) {
    server_gone_.store(kServerImpostor, std::memory_order_relaxed);
  } else {
    server_identity_.uid = view_.peer->owner().uid;
    server_identity_.gid = view_.peer->owner().gid;
    // The server has both segments open: neither needs a name any more.
    visibility_->Publish(&view_.requests->peer_opened, 1);
    view_.own->Unlink();
    cache_->PeerSegmentMapped();
    if (visibility_->coherent()) {
      response_bell_ = Doorbell(&view_.responses->wake_sequence, &view_.requests->sleepers);
    }
  }
  server_attached_.store(true, std::memory_order_release);
}

Status ClientConnection::PeerStatus(bool check_process) {
  // A connection of an identity the process left after a fence was reclaimed by its peers: not
  // even its server's segment is attached.
  if (lease_->epoch() != epoch_) {
    uint32_t present = kServerPresent;
    server_gone_.compare_exchange_strong(present, kSelfFenced, std::memory_order_relaxed);
  }
  uint32_t gone = server_gone_.load(std::memory_order_relaxed);
  if (gone != kSelfFenced && !server_attached_.load(std::memory_order_acquire)) {
    AttachServerSegment();
    gone = server_gone_.load(std::memory_order_relaxed);
  }
  if (gone == kServerPresent) {
    bool attached = server_attached_.load(std::memory_order_acquire);
    uint64_t closed =
        attached ? PoolAccess::mapping(*pool_).visibility().Consume(&view_.responses->closed)
                 : kOpen;
    if (!attached && (Visibility::LoadOrdered(&view_.header->lifecycle) & kServerDetached)) {
      // It left the connection without answering it: it could not map it, or shut down.
      gone = kServerShutDown;
    } else if (closed == kClosedForViolation) {
      gone = kServerRefused;
    } else if (attached && view_.peer->faulted()) {
      // The server shortened its segment under us (segment_guard.h).
      gone = kServerMisbehaved;
    } else if (closed == kClosedAtLimit) {
      gone = kServerFull;
    } else if (closed == kClosedNotAllowed) {
      gone = kServerForbids;
    } else if (closed != kOpen) {
      gone = kServerShutDown;
    } else if (check_process && !lease_->MayWrite(epoch_)) {
      gone = kSelfFenced;
    } else if (check_process && !IsAlive(server_)) {
      gone = kServerDied;
    } else {
      return Status::OK;
    }
    server_gone_.store(gone, std::memory_order_relaxed);
  }
  if (gone == kSelfFenced) return lease_->FencedStatus();
  if (gone == kServerFull) {
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  "the server of service '" + service_ +
                      "' refused the connection: it holds its limit of connections from one "
                      "client process (ServerBuilder::SetMaxConnectionsPerClient) or in all; "
                      "close channels, or raise the server's limit");
  }
  if (gone == kServerForbids) {
    // Who the server saw: the owner of this side's segment, as the kernel recorded it.
    SegmentOwner self = view_.own->owner();
    return Status(StatusCode::PERMISSION_DENIED,
                  "service '" + service_ + "' does not allow calls from uid " +
                      std::to_string(self.uid) + " (gid " + std::to_string(self.gid) +
                      "): its server (uid " + std::to_string(server_uid_) +
                      ") accepts its own uid and the uids and gids it lists; to allow this "
                      "caller, start the server with ServerBuilder::AllowCallerUid(" +
                      std::to_string(self.uid) +
                      ") (gRPC: notnets::grpc::ServerOptions::allowed_caller_uids)");
  }
  if (gone == kServerImpostor) {
    return Status(StatusCode::UNAVAILABLE,
                  "the connection to service '" + service_ +
                      "' was refused: its response segment is missing, not readable by this "
                      "user, or was not created by the server's user (uid " +
                      std::to_string(server_uid_) +
                      "); another user may have planted a file in the pool's directory");
  }
  std::string what =
      gone == kServerDied         ? "died (process " + std::to_string(server_.pid) + ")"
      : gone == kServerRefused    ? "closed the connection because this client broke the protocol"
      : gone == kServerMisbehaved ? "broke the protocol, so this client closed the connection"
                                  : "has shut down";
  return Status(StatusCode::UNAVAILABLE, "the server of service '" + service_ + "' " + what +
                                             "; calls will go to its next server once one "
                                             "registers");
}

bool ClientConnection::NeverReached(uint64_t position) {
  if (!server_attached_.load(std::memory_order_acquire)) AttachServerSegment();
  // A server creates its segment before it reads a request, and removes its name only once this
  // client has attached it: a segment that cannot be attached means nothing was read.
  if (!server_attached_.load(std::memory_order_acquire)) return true;
  return PoolAccess::mapping(*pool_).visibility().Consume(&view_.responses->peer_consumed) <=
         position;
}

bool ClientConnection::RecoverPayload(const Message& request, std::string* bytes) {
  // `request` is this process's copy of what it sent: only the block is read from the pool.
  if (!(request.flags & kPayloadInBlock)) {
    bytes->assign(reinterpret_cast<const char*>(request.payload.inline_bytes),
                  request.inline_length);
    return true;
  }
  const BlockPayload& payload = request.payload.block;
  if (cache_->has_arenas()) {
    const uint8_t* data = cache_->PublishedPayload(payload.block_offset, payload.length);
    if (data == nullptr) return false;
    bytes->assign(reinterpret_cast<const char*>(data), payload.length);
    return true;
  }
  uint64_t capacity = 0;
  const BlockHeader* header = allocator_.ValidBlock(payload.block_offset, &capacity);
  if (header == nullptr || payload.length > capacity ||
      header->ownership.load(std::memory_order_relaxed) !=
          BlockOwnership(view_.endpoint(Side::kServer), BlockState::kPublished)) {
    return false;
  }
  bytes->assign(reinterpret_cast<const char*>(cache_->PayloadOf(payload.block_offset)),
                payload.length);
  return true;
}

Status ClientConnection::BuildRequest(uint32_t method_index, Request request,
                                      ClientContext* context, Message* message) {
  uint64_t timeout_ns = 0;
  if (context->deadline() != Clock::time_point::max()) {
    auto remaining = context->deadline() - Clock::now();
    if (remaining <= Clock::duration::zero()) {
      return Status(StatusCode::DEADLINE_EXCEEDED,
                    "deadline passed before the call to '" + service_ + "' was sent");
    }
    timeout_ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(remaining).count());
  }
  uint64_t call_token = context->at_most_once() ? ClientContextAccess::CallToken(context) : 0;
  return EncodeRequest(cache_.get(), view_.endpoint(Side::kServer), method_index, timeout_ns,
                       OutgoingPayload{request.bytes, request.buffer}, context->client_metadata(),
                       call_token, message);
}

void ClientConnection::Discard(const Message& message) {
  uint64_t blocks[2] = {message.flags & kPayloadInBlock ? message.payload.block.block_offset : 0,
                        message.flags & kHasMetadata ? message.metadata_offset : 0};
  for (uint64_t block : blocks) {
    if (block == 0) continue;
    if (cache_->has_arenas()) {
      // Whatever the offset: the server ignores blocks it never handed out.
      cache_->ReleaseReceived(block);
      continue;
    }
    // Blocks the server sent must validate.
    BlockHeader* header = allocator_.ValidBlock(block);
    if (header == nullptr) continue;
    uint64_t ownership = header->ownership.load(std::memory_order_relaxed);
    if (ownership == BlockOwnership(view_.endpoint(Side::kClient), BlockState::kPublished) ||
        ownership == BlockOwnership(view_.endpoint(Side::kServer), BlockState::kPublished)) {
      cache_->Release(block);
    }
  }
}

Status ClientConnection::Start(std::string_view method, Request request, ClientContext* context,
                               CallState state, CallCallback* done, int attempt,
                               Outgoing* outgoing) {
  if (context->cancel_requested()) {
    return Status(StatusCode::CANCELLED, "the call was cancelled before it started");
  }
  uint32_t method_index = methods_.Find(method);
  if (method_index == MethodTable::kNotFound) {
    return Status(StatusCode::UNIMPLEMENTED,
                  "service '" + service_ + "' has no method '" + std::string(method) + "'");
  }
  Status status;
  if (!ServerLooksPresent() && !(status = PeerStatus(false)).ok()) return status;

  // Waits for a free slot, then for room in the request ring, within the call's deadline. The
  // clock is read only once the call has to wait.
  Backoff backoff;
  Clock::time_point next_process_check;
  auto wait = [&](const char* what) {
    auto now = Clock::now();
    if (next_process_check == Clock::time_point()) next_process_check = now + kProcessCheckInterval;
    bool check_process = now >= next_process_check;
    if (check_process) next_process_check = now + kProcessCheckInterval;
    if (context->cancel_requested()) {
      return Status(StatusCode::CANCELLED, "the call was cancelled before it was sent");
    }
    if (now >= context->deadline()) {
      return Status(StatusCode::DEADLINE_EXCEEDED,
                    std::string("deadline passed while waiting for ") + what +
                        " of the channel to '" + service_ + "'");
    }
    Status peer = PeerStatus(check_process);
    if (!peer.ok()) return peer;
    // Calls this thread holds back keep their slots and ring positions until they are sent.
    SendHeld();
    TryDrain();
    backoff.Wait();
    return Status::OK;
  };
  uint32_t index;
  while ((index = slots_.Acquire()) == slots_.capacity()) {
    if (status = wait("a free call slot"); !status.ok()) return status;
  }
  Message& message = outgoing->request;
  status = BuildRequest(method_index, request, context, &message);
  if (!status.ok()) {
    slots_.Release(index);
    return status;
  }
  message.call_id = slots_.CallId(index);
  uint64_t position;
  while (!requests_.TryClaim(&position)) {
    if (status = wait("room in the request ring"); !status.ok()) {
      ReleaseEncoded(cache_.get(), message);
      slots_.Release(index);
      return status;
    }
  }
  // The slot becomes visible to the response reader only now, with the position claimed: from
  // here nothing can fail before the request is published. The context is written first: once
  // the call completes, the caller may destroy it.
  ClientContextAccess::set_peer(context, peer_);
  CallSlot& slot = slots_[index];
  slot.context = context;
  // The first of every kLatencySampleEvery uses of a slot is timed: a clock read costs a call
  // more than all the counting.
  auto generation = static_cast<uint32_t>(message.call_id >> 32);
  slot.sent_ns = generation % kLatencySampleEvery == 1 ? NowNs() : 0;
  if (done != nullptr) slot.done = std::move(*done);
  if (state == kAsyncWaiting) {
    slot.request = message;
    slot.position = position;
    slot.attempt = attempt;
  }
  slot.state.store(state, std::memory_order_release);
  // Counted only once the slot waits: while nothing is counted the completion thread reads no
  // response, and a response that a faulty server wrote before the call was made must not find
  // the slot before it waits (it would be thrown away, and the call wait for its deadline).
  // ExpireAsyncCalls may complete the call in between and take the count below zero for a
  // moment; the count is then only a reason to poll a little longer.
  if (state == kAsyncWaiting) {
    outgoing->ends_idleness = async_outstanding_.fetch_add(1, std::memory_order_relaxed) == 0;
  }
  outgoing->slot = index;
  outgoing->position = position;
  return Status();
}

void ClientConnection::Publish(const Outgoing& outgoing) {
  CrashPoint("client.before_publish_request");
  requests_.Publish(outgoing.position, outgoing.request);
  CrashPoint("client.after_publish_request");
}

void ClientConnection::Send(const Outgoing& outgoing, bool may_defer) {
  SendBatch* batch = held_;
  if (may_defer && batch != nullptr && batch->connection == this) {
    if (batch->calls.full()) SendHeld(batch);
    *batch->calls.Add() = outgoing;
    return;
  }
  // The server reads the ring in order: what this thread holds back goes first.
  SendHeld();
  Publish(outgoing);
  doorbell_.Ring();
}

void ClientConnection::SendHeld() {
  for (SendBatch* batch = held_; batch != nullptr; batch = batch->outer) {
    if (batch->connection == this) SendHeld(batch);
  }
}

void ClientConnection::SendHeld(SendBatch* batch) {
  if (batch->calls.size() == 0) return;
  for (size_t i = 0; i < batch->calls.size(); ++i) Publish(batch->calls[i]);
  batch->calls.Clear();
  doorbell_.Ring();
}

Status ClientConnection::CallSync(std::string_view method, Request request, ClientContext* context,
                                  ReceivedMessage* response, Fate* fate) {
  if (!Enter()) {  // released: its server is gone, and the call was not sent
    fate->server_lost = fate->unsent = true;
    return PeerStatus(false);
  }
  struct LeaveOnReturn {
    ~LeaveOnReturn() { connection->Leave(); }
    ClientConnection* connection;
  } leave{this};
  Outgoing outgoing;
  Status status = Start(method, request, context, kSyncWaiting, nullptr, 0, &outgoing);
  fate->server_lost = fate->unsent = status.error_code() == StatusCode::UNAVAILABLE;
  if (!status.ok()) return status;
  Send(outgoing, false);  // this thread waits for the answer: send now
  const uint32_t index = outgoing.slot;
  const uint64_t position = outgoing.position;
  CallSlot& slot = slots_[index];
  Backoff backoff;
  auto next_process_check = Clock::now() + kProcessCheckInterval;
  for (uint32_t round = 1;; ++round) {
    if (slot.state.load(std::memory_order_acquire) == kCompleted) break;
    if (TryDrain()) continue;
    if (round % 64 == 0 || backoff.sleeping()) {
      auto now = Clock::now();
      Status failure;
      if (context->cancel_requested()) {
        failure = Status(StatusCode::CANCELLED, "the call was cancelled");
      } else if (now >= context->deadline()) {
        failure = Status(StatusCode::DEADLINE_EXCEEDED,
                         "deadline exceeded waiting for service '" + service_ + "'");
      } else if (bool check = now >= next_process_check; !(failure = PeerStatus(check)).ok()) {
        TryDrain();  // responses published before the server went away still count
      } else if (check) {
        next_process_check = now + kProcessCheckInterval;
      }
      uint64_t call_id =
          slots_.CallId(index);  // before Abandon: the slot may be reused right after
      if (!failure.ok() && Abandon(index, kSyncWaiting)) {
        SendCancel(call_id);
        fate->server_lost = failure.error_code() == StatusCode::UNAVAILABLE;
        fate->unsent = fate->server_lost && NeverReached(position);
        return failure;
      }
    }
    backoff.Wait([&](std::chrono::microseconds nap) { SleepForResponse(nap, &slot); });
  }
  Message message = slot.response;
  slots_.Release(index);
  return Finish(message, context, response);
}

bool ClientConnection::CallAsync(std::string_view method, Request request, ClientContext* context,
                                 CallCallback&& done, std::chrono::nanoseconds inline_wait,
                                 int attempt, Status* unsent) {
  if (!Enter()) {  // released: its server is gone, and the call was not sent
    *unsent = PeerStatus(false);
    return false;
  }
  struct LeaveOnReturn {
    ~LeaveOnReturn() { connection->Leave(); }
    ClientConnection* connection;
  } leave{this};
  EnsureCompletionThread();
  Outgoing outgoing;
  Status status = Start(method, request, context, kAsyncWaiting, &done, attempt, &outgoing);
  // As in CallSync: UNAVAILABLE from Start means the server went away before the call was sent.
  if (status.error_code() == StatusCode::UNAVAILABLE) {
    *unsent = std::move(status);
    return false;
  }
  if (!status.ok()) {
    done(CallResult{status, ReceivedMessage()});
    return true;
  }
  bool wake = outgoing.ends_idleness;
  if (inline_wait.count() == 0) {
    Send(outgoing, true);
    if (wake) WakeCompletionThread();
    return true;
  }
  // Before sending: once sent, the call may complete and its slot serve another call. The
  // slot's generation changes when the call completes (its `done` has then run, or is running on
  // the thread that read the response).
  uint32_t generation = static_cast<uint32_t>(outgoing.request.call_id >> 32);
  Send(outgoing, false);
  const CallSlot& slot = slots_[outgoing.slot];
  auto until = Clock::now() + inline_wait;
  for (uint32_t round = 1; slot.generation.load(std::memory_order_acquire) == generation; ++round) {
    if (TryDrain()) continue;
    if (round % 64 == 0 && Clock::now() >= until) break;
    CpuRelax();
  }
  // Only now, so that a quick answer is read here: the completion thread takes over what is
  // left, this call or one that another thread counted meanwhile.
  if (wake && async_outstanding_.load(std::memory_order_relaxed) > 0) WakeCompletionThread();
  return true;
}

void ClientConnection::WakeCompletionThread() {
  MutexLock lock(&completion_mutex_);
  completion_wakeup_.Signal();
}

void ClientConnection::SleepForResponse(std::chrono::microseconds nap, const CallSlot* slot) {
  if (!server_attached_.load(std::memory_order_acquire) || !response_bell_.attached()) {
    std::this_thread::sleep_for(nap);
    return;
  }
  uint64_t sequence = response_bell_.BeginSleep();
  // Looked for after announcing the sleep: a response published from here on rings.
  bool answered = responses_.HasMessage() ||
                  (slot != nullptr && slot->state.load(std::memory_order_acquire) == kCompleted);
  if (!answered) response_bell_.Sleep(sequence, nap);
  response_bell_.EndSleep();
}

thread_local ClientConnection::SendBatch* ClientConnection::held_ = nullptr;

bool ClientConnection::Abandon(uint32_t index, CallState from) {
  uint32_t expected = from;
  return slots_[index].state.compare_exchange_strong(expected, kAbandoned,
                                                     std::memory_order_acq_rel);
}

void ClientConnection::SendCancel(uint64_t call_id) {
  if (!lease_->MayWrite(epoch_)) return;  // the connection was reclaimed with the old identity
  PoolAccess::mapping(*pool_).visibility().Publish(
      &view_.cancel_words[static_cast<uint32_t>(call_id)], call_id);
}

bool ClientConnection::TryDrain() {
  if (!server_attached_.load(std::memory_order_acquire)) {
    AttachServerSegment();
    // No response before the server's segment exists; and reading the placeholder would map
    // pages that Attach must then flush from every CPU.
    if (!server_attached_.load(std::memory_order_acquire)) return false;
  }
  bool drained = false;
  // Batch after batch, but no more than the ring holds: the caller has its own checks to make.
  for (uint32_t batches = slots_.capacity() / CompletionBatch::kCapacity + 1; batches > 0;
       --batches) {
    if (!responses_.HasMessage()) break;
    // Reading a response writes the ring's counter: not into memory reclaimed from a fenced
    // process.
    if (!lease_->MayWrite(epoch_)) break;
    if (!polling_.TryLock()) break;
    CompletionBatch completions;
    size_t read = DrainResponses(&completions);
    polling_.Unlock();
    drained = true;
    RunCompletions(&completions);
    if (read < CompletionBatch::kCapacity) break;
  }
  return drained;
}

void ClientConnection::RunCompletions(CompletionBatch* completions) {
  if (completions->size() == 0) return;
  // Calls the callbacks start go out together once they have all returned (also if one throws):
  // their stores to the ring then follow each other, and the doorbell rings once.
  struct HoldSends {
    explicit HoldSends(ClientConnection* connection) : batch{connection, held_, {}} {
      held_ = &batch;
    }
    ~HoldSends() {
      held_ = batch.outer;
      batch.connection->SendHeld(&batch);
    }
    SendBatch batch;
  } hold(this);
  for (size_t i = 0; i < completions->size(); ++i) {
    Completion& completion = (*completions)[i];
    completion.done(std::move(completion.result));
  }
  async_outstanding_.fetch_sub(static_cast<uint32_t>(completions->size()),
                               std::memory_order_relaxed);
  completions->Clear();
}

size_t ClientConnection::DrainResponses(CompletionBatch* completions) {
  // Left uninitialized: the ring copies into it only as many as it has.
  alignas(Message) unsigned char storage[CompletionBatch::kCapacity * sizeof(Message)];
  auto* messages = reinterpret_cast<Message*>(storage);
  size_t count = responses_.TryRead(messages, CompletionBatch::kCapacity);
  // Slots of completed asynchronous calls go back to the free stack together, at the end.
  uint32_t freed[CompletionBatch::kCapacity];
  size_t freed_count = 0;
  int64_t now_ns = 0;
  for (size_t i = 0; i < count; ++i) {
    const Message& message = messages[i];
    CrashPoint("client.after_read_response");
    uint32_t index = static_cast<uint32_t>(message.call_id);
    if (message.kind() != DescriptorKind::kResponse || index >= slots_.capacity() ||
        slots_[index].generation.load(std::memory_order_relaxed) != message.call_id >> 32) {
      Discard(message);
      continue;
    }
    CallSlot& slot = slots_[index];
    while (true) {
      uint32_t state = slot.state.load(std::memory_order_acquire);
      if (state == kFinishing) {  // another thread is looking at the slot for a moment
        CpuRelax();
        continue;
      }
      if (state == kSyncWaiting) {
        slot.response = message;
        // Read before the slot completes: its caller may reuse it right after.
        int64_t sent_ns = slot.sent_ns;
        if (slot.state.compare_exchange_strong(state, kCompleted, std::memory_order_acq_rel)) {
          CountAnswer(message.code, sent_ns, &now_ns);
          break;
        }
      } else if (state == kAsyncWaiting) {
        if (slot.state.compare_exchange_strong(state, kFinishing, std::memory_order_acq_rel)) {
          CountAnswer(message.code, slot.sent_ns, &now_ns);
          Completion* completion = completions->Add();
          completion->done = std::move(slot.done);
          completion->result.status = Finish(message, slot.context, &completion->result.response);
          // Free, and a later response for the same call is stale, but not yet to be taken.
          slots_.Retire(index);
          freed[freed_count++] = index;
          break;
        }
      } else if (state == kAbandoned) {
        // The caller gave up on this call: the response only frees the slot.
        if (slot.state.compare_exchange_strong(state, kFinishing, std::memory_order_acq_rel)) {
          Discard(message);
          slots_.Release(index);
          break;
        }
      } else {
        Discard(message);  // a second response for one call: a faulty server
        break;
      }
    }
  }
  if (freed_count != 0) slots_.PushFree(freed, freed_count);
  return count;
}

void ClientConnection::CountAnswer(uint32_t code, int64_t sent_ns, int64_t* now_ns) {
  // Recorded, not published: a write-back per count would cost more than the call on memory
  // without coherence, and `notnets top` may see the counts late.
  ConnectionCounters* shared = view_.counters;
  if (code != static_cast<uint32_t>(StatusCode::OK)) {
    visibility_->Record(&shared->calls_failed, ++counts_.calls_failed);
  }
  if (sent_ns != 0) {
    if (*now_ns == 0) *now_ns = NowNs();
    uint64_t nanoseconds = *now_ns > sent_ns ? static_cast<uint64_t>(*now_ns - sent_ns) : 0;
    uint32_t bucket = LatencyBucket(nanoseconds);
    visibility_->Record(&shared->latency[bucket], ++counts_.latency[bucket]);
    visibility_->Record(&shared->latency_sum_ns, counts_.latency_sum_ns += nanoseconds);
  }
  // Last, so that a reader never sees more answered calls than failures and latencies.
  visibility_->Record(&shared->calls_answered, ++counts_.calls_answered);
}

Status ClientConnection::Finish(const Message& response, ClientContext* context,
                                ReceivedMessage* message) {
  ClientContextAccess::set_server_identity(context, server_identity_);
  StatusCode code = StatusCode::OK;
  std::string status_message;
  DecodeError error =
      DecodeResponse(cache_.get(), response, &code, &status_message,
                     ClientContextAccess::server_initial_metadata(context),
                     ClientContextAccess::server_trailing_metadata(context), message);
  if (error == DecodeError::kNone) {
    if (code == StatusCode::OK && status_message.empty()) return Status();  // no string to move
    return Status(code, std::move(status_message));
  }
  // Garbage from the server: this call fails with INTERNAL, and later calls go elsewhere. The
  // blocks the response names and the decoder did not take are freed here.
  if (error == DecodeError::kMetadataBlock) {
    Discard(response);
  } else if (error == DecodeError::kMetadataEncoding || error == DecodeError::kStatusCode) {
    Message payload_only = response;
    payload_only.flags &= ~kHasMetadata;
    Discard(payload_only);
  }
  MarkForSweep(view_);
  server_gone_.store(kServerMisbehaved, std::memory_order_relaxed);
  return Status(StatusCode::INTERNAL, std::string("the server of '") + service_ +
                                          "' sent an invalid response (" + DecodeErrorName(error) +
                                          ")");
}

void ClientConnection::EnsureCompletionThread() {
  if (completion_started_.load(std::memory_order_acquire)) return;
  MutexLock lock(&completion_mutex_);
  if (!completion_thread_.joinable()) {
    completion_thread_ = std::thread([this] {
      PinCallingThread(completion_cpus_);
      CompletionLoop();
    });
  }
  completion_started_.store(true, std::memory_order_release);
}

void ClientConnection::ExpireAsyncCalls(std::vector<Completion>* completions,
                                        std::vector<Resend>* resends) {
  auto now = Clock::now();
  bool check_process = now >= next_process_check_;
  if (check_process) next_process_check_ = now + kProcessCheckInterval;
  Status peer = PeerStatus(check_process);
  // Responses the server published before it went away still count.
  if (!peer.ok()) TryDrain();
  for (uint32_t i = 0; i < slots_.capacity(); ++i) {
    CallSlot& slot = slots_[i];
    // Claim the slot before looking at its context: a response may complete it meanwhile.
    uint32_t expected = kAsyncWaiting;
    if (!slot.state.compare_exchange_strong(expected, kFinishing, std::memory_order_acq_rel)) {
      continue;
    }
    Status failure = !peer.ok() ? peer
                     : slot.context->cancel_requested()
                         ? Status(StatusCode::CANCELLED, "the call was cancelled")
                     : now >= slot.context->deadline()
                         ? Status(StatusCode::DEADLINE_EXCEEDED,
                                  "deadline exceeded waiting for service '" + service_ + "'")
                         : Status::OK;
    if (failure.ok()) {
      slot.state.store(kAsyncWaiting, std::memory_order_release);
      continue;
    }
    uint64_t call_id = slots_.CallId(i);  // before kAbandoned: the slot may be reused right after
    // The rule of ChannelCore::CallSync: a call no handler ran may go to another server, and so
    // may an at-most-once call, which the pool's window keeps from running twice. Responses the
    // server published are drained above, so the consumed counter is final for a dead server.
    // Not from a fenced process: its peers reclaimed the connection and the blocks it sent.
    bool server_lost =
        !peer.ok() && peer.error_code() == StatusCode::UNAVAILABLE && lease_->MayWrite(epoch_);
    Resend resend;
    if (resender_ != nullptr && server_lost &&
        (slot.context->at_most_once() || NeverReached(slot.position)) &&
        !(resend.method = methods_.Name(slot.request.code)).empty() &&
        RecoverPayload(slot.request, &resend.request)) {
      resend.context = slot.context;
      resend.done = std::move(slot.done);
      resend.attempt = slot.attempt;
      resend.failure = failure;
      // Counted before the slot is let go: the connection is not released while the request
      // may still be on its way elsewhere.
      users_.fetch_add(1);
      resends->push_back(std::move(resend));
    } else {
      completions->push_back(Completion{std::move(slot.done), CallResult{failure, {}}});
    }
    slot.state.store(kAbandoned, std::memory_order_release);
    SendCancel(call_id);
  }
}

void ClientConnection::CompletionLoop() {
  Backoff backoff;
  for (uint32_t round = 1; !stopping_.load(std::memory_order_relaxed); ++round) {
    if (async_outstanding_.load(std::memory_order_relaxed) == 0) {
      MutexLock lock(&completion_mutex_);
      if (!stopping_.load() && async_outstanding_.load() == 0) {
        completion_wakeup_.WaitFor(&completion_mutex_, std::chrono::milliseconds(100));
      }
      continue;
    }
    if (TryDrain()) {
      backoff.Reset();
      continue;
    }
    if (round % 256 == 0 || backoff.sleeping()) {
      std::vector<Completion> expired;
      std::vector<Resend> resends;
      ExpireAsyncCalls(&expired, &resends);
      for (Completion& completion : expired) {
        completion.done(std::move(completion.result));
        async_outstanding_.fetch_sub(1, std::memory_order_relaxed);
      }
      for (Resend& resend : resends) {
        resender_->Resend(resend.method, resend.request, resend.context, std::move(resend.done),
                          resend.attempt, resend.failure);
        async_outstanding_.fetch_sub(1, std::memory_order_relaxed);
        Leave();
      }
    }
    backoff.Wait([this](std::chrono::microseconds nap) { SleepForResponse(nap, nullptr); });
  }
}

}  // namespace notnets::internal
