#include "rpc/server_runtime.h"

#include <cstring>
#include <exception>
#include <map>
#include <utility>

#include "channel/wait.h"
#include "pool/crash_point.h"
#include "pool/pool_mapping.h"
#include "rpc/metadata_codec.h"

namespace notnets::internal {

namespace {

using Clock = std::chrono::steady_clock;

// A hostile client could link pending connections into a cycle: never walk more than this.
constexpr uint32_t kMaxPendingWalk = 65536;

}  // namespace

ServerConnection::ServerConnection(const ConnectionView& view, const RegisteredService* service,
                                   std::shared_ptr<Pool> pool)
    : view(view),
      service(service),
      cache(std::make_shared<BufferCache>(pool, view.endpoint(Side::kServer))),
      requests(view.request_slots(), view.capacity, &view.responses->peer_consumed,
               &pool->mapping().visibility()),
      responses(view.response_slots(), view.capacity, &view.requests->peer_consumed,
                &pool->mapping().visibility()) {}

ServerRuntime::ServerRuntime(std::shared_ptr<Pool> pool, int workers)
    : pool_(std::move(pool)),
      allocator_(&pool_->mapping()),
      directory_(&pool_->mapping(), &allocator_),
      window_(&pool_->mapping(), &allocator_),
      connections_(new std::atomic<Connection*>[kMaxConnections]),
      hot_(new std::atomic<uint64_t>[kMaxConnections / 64]),
      worker_count_(static_cast<uint32_t>(workers)),
      worker_passes_(new std::atomic<uint64_t>[workers]) {
  for (uint32_t i = 0; i < kMaxConnections; ++i) connections_[i].store(nullptr);
  for (uint32_t i = 0; i < kMaxConnections / 64; ++i) hot_[i].store(0);
  for (int i = 0; i < workers; ++i) worker_passes_[i].store(0);
}

Status ServerRuntime::Start(std::shared_ptr<Pool> pool, const std::vector<Service*>& services,
                            int workers, std::unique_ptr<ServerRuntime>* runtime) {
  if (workers < 1 || workers > 1024) {
    return Status(StatusCode::INVALID_ARGUMENT, "worker threads must be in [1, 1024]");
  }
  if (services.empty()) {
    return Status(StatusCode::INVALID_ARGUMENT, "register at least one service before starting");
  }
  std::unique_ptr<ServerRuntime> server(new ServerRuntime(std::move(pool), workers));
  for (Service* service : services) {
    std::vector<std::string> names;
    for (const Service::Method& method : service->methods()) names.push_back(method.name);
    ServiceRef ref;
    uint32_t doorbell_entry =
        server->services_.empty() ? Directory::kOwnDoorbell : server->services_[0].ref.index;
    Status status = server->directory_.Register(service->name(), names, doorbell_entry, &ref);
    if (!status.ok()) {
      for (const RegisteredService& done : server->services_) {
        server->directory_.Unregister(done.ref);
      }
      server->services_.clear();
      return status;
    }
    server->services_.push_back(RegisteredService{service, ref});
  }
  server->doorbell_ = server->directory_.DoorbellOf(server->services_[0].ref);
  for (int i = 0; i < workers; ++i) {
    server->workers_.emplace_back([raw = server.get(), i] { raw->WorkerLoop(i); });
  }
  *runtime = std::move(server);
  return Status::OK;
}

ServerRuntime::~ServerRuntime() { Shutdown(); }

void ServerRuntime::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(shutdown_mutex_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  for (const RegisteredService& service : services_) directory_.BeginClose(service.ref);
  stopping_.store(true);
  doorbell_.Ring();
  for (std::thread& worker : workers_) worker.join();
  {
    // Their contexts report IsCancelled() now; each still answers its connection.
    std::unique_lock<std::mutex> lock(async_mutex_);
    async_done_.wait(lock, [this] { return async_calls_ == 0; });
  }
  // Connections that arrived after the last accept are taken now only to be closed.
  AcceptPending();
  const Visibility& visibility = pool_->mapping().visibility();
  for (uint32_t i = 0; i < connection_slots_used_.load(); ++i) {
    Connection* connection = connections_[i].load();
    if (connection == nullptr) continue;
    visibility.Publish(&connection->view.responses->closed, kClosedBySender);
    connection->cache.reset();
    DetachConnection(&allocator_, connection->view, Side::kServer);
    delete connection;
    connections_[i].store(nullptr);
  }
  retired_.clear();
  for (const RegisteredService& service : services_) directory_.Unregister(service.ref);
  std::lock_guard<std::mutex> lock(shutdown_mutex_);
  shutdown_done_.notify_all();
}

void ServerRuntime::Wait() {
  std::unique_lock<std::mutex> lock(shutdown_mutex_);
  shutdown_done_.wait(lock, [this] { return shut_down_; });
}

void ServerRuntime::WorkerLoop(uint32_t worker) {
  Backoff backoff;
  for (uint64_t pass = 1; !stopping_.load(std::memory_order_relaxed); ++pass) {
    // Accepting, retiring and reclaiming are rare: every kSlowPassInterval passes, or when idle.
    bool idle = backoff.sleeping();
    bool slow_pass = pass % kSlowPassInterval == 0 || idle;
    bool worked = false;
    if (slow_pass && !housekeeping_.test_and_set(std::memory_order_acquire)) {
      worked = AcceptPending();
      CheckClients();
      CoolDown();
      if (idle) ReclaimRetired();
      housekeeping_.clear(std::memory_order_release);
    }
    uint32_t used = connection_slots_used_.load(std::memory_order_acquire);
    if (PollHot(used)) worked = true;
    if (stopping_.load(std::memory_order_relaxed)) break;
    // Cold connections take turns, a few per pass, and all of them when idle; a slow pass also
    // looks for connections to retire.
    uint32_t turns = idle ? used : slow_pass ? kClosedChecksPerSlowPass : kColdPollsPerPass;
    if (PollInTurn(used, std::min(turns, used), slow_pass)) worked = true;
    // Only this worker writes its count: a plain store is enough.
    worker_passes_[worker].store(pass, std::memory_order_release);
    if (worked) {
      backoff.Reset();
    } else if (idle) {
      SleepUntilRung();
    } else {
      backoff.Wait();
    }
  }
}

bool ServerRuntime::PollHot(uint32_t used) {
  bool worked = false;
  for (uint32_t group = 0; group * 64 * 64 < used; ++group) {
    for (uint64_t words = hot_words_[group].load(std::memory_order_relaxed); words != 0;
         words &= words - 1) {
      uint32_t word = group * 64 + static_cast<uint32_t>(__builtin_ctzll(words));
      for (uint64_t bits = hot_[word].load(std::memory_order_relaxed); bits != 0;
           bits &= bits - 1) {
        uint32_t slot = word * 64 + static_cast<uint32_t>(__builtin_ctzll(bits));
        Connection* connection = connections_[slot].load(std::memory_order_acquire);
        if (connection != nullptr && Poll(slot, connection, false, true)) worked = true;
      }
    }
  }
  return worked;
}

bool ServerRuntime::PollInTurn(uint32_t used, uint32_t turns, bool check_closed) {
  bool worked = false;
  for (uint32_t turn = 0; turn < turns && !stopping_.load(std::memory_order_relaxed); ++turn) {
    // Workers may race for the cursor and poll one connection twice: harmless, and cheaper than
    // an atomic increment right after publishing a response, which would wait for that store.
    uint32_t cursor = cursor_.load(std::memory_order_relaxed);
    cursor_.store(cursor + 1, std::memory_order_relaxed);
    uint32_t slot = cursor % used;
    Connection* connection = connections_[slot].load(std::memory_order_acquire);
    // Hot connections had their turn in PollHot; here they are only checked for a closed client.
    bool hot = IsHot(slot);
    if (connection == nullptr || (hot && !check_closed)) continue;
    if (Poll(slot, connection, check_closed, /*take_request=*/!hot)) {
      SetHot(slot, true);
      worked = true;
    }
  }
  return worked;
}

void ServerRuntime::CoolDown() {
  auto now = Clock::now();
  if (now < next_cool_down_) return;
  next_cool_down_ = now + kCoolDownInterval;
  uint32_t used = connection_slots_used_.load(std::memory_order_acquire);
  for (uint32_t slot = 0; slot < used; ++slot) {
    Connection* connection = connections_[slot].load(std::memory_order_acquire);
    if (connection == nullptr || !IsHot(slot)) continue;
    uint32_t taken = connection->requests_taken.load(std::memory_order_relaxed);
    connection->quiet_intervals =
        taken == connection->taken_at_cool_down ? connection->quiet_intervals + 1 : 0;
    connection->taken_at_cool_down = taken;
    if (connection->quiet_intervals >= 2) SetHot(slot, false);
  }
}

bool ServerRuntime::IsHot(uint32_t slot) const {
  return (hot_[slot / 64].load(std::memory_order_relaxed) >> (slot % 64)) & 1;
}

void ServerRuntime::SetHot(uint32_t slot, bool hot) {
  uint32_t word = slot / 64;
  uint64_t bit = uint64_t{1} << (slot % 64);
  std::atomic<uint64_t>& summary = hot_words_[word / 64];
  uint64_t word_bit = uint64_t{1} << (word % 64);
  // Sequentially consistent (these are rare: a connection turning hot or cold): a worker that
  // clears a word's summary bit while another sets a slot in that word sees the new slot when it
  // looks again, or the other's summary store comes after its clear; either way the bit stays.
  if (hot) {
    hot_[word].fetch_or(bit);
    summary.fetch_or(word_bit);
  } else if ((hot_[word].fetch_and(~bit) & ~bit) == 0) {
    summary.fetch_and(~word_bit);
    if (hot_[word].load() != 0) summary.fetch_or(word_bit);
  }
}

void ServerRuntime::SleepUntilRung() {
  uint64_t sequence = doorbell_.BeginSleep();
  if (!HasWork()) doorbell_.Sleep(sequence, kIdleSleep);
  doorbell_.EndSleep();
}

bool ServerRuntime::HasWork() const {
  if (stopping_.load(std::memory_order_relaxed)) return true;
  const Visibility& visibility = pool_->mapping().visibility();
  for (const RegisteredService& service : services_) {
    if (visibility.Consume(&directory_.entry(service.ref.index)->pending_connections) != 0) {
      return true;
    }
  }
  uint32_t used = connection_slots_used_.load(std::memory_order_acquire);
  for (uint32_t slot = 0; slot < used; ++slot) {
    Connection* connection = connections_[slot].load(std::memory_order_acquire);
    if (connection != nullptr && connection->requests.HasMessage()) return true;
  }
  return false;
}

bool ServerRuntime::Poll(uint32_t slot, Connection* connection, bool check_closed,
                         bool take_request) {
  // Look before taking the flag: an empty ring costs one load. (A retired connection's memory
  // may be reused already; reading it is harmless, and the flag holder checks `retired`.)
  if (!check_closed && !(take_request && connection->requests.HasMessage())) return false;
  if (connection->polling.test_and_set(std::memory_order_acquire)) return false;
  if (connection->retired) {
    connection->polling.clear(std::memory_order_release);
    return false;
  }
  Message request;
  if (!take_request || !connection->requests.TryRead(&request)) {
    if (connection->handlers_running.load(std::memory_order_acquire) == 0 &&
        (connection->client_dead.load(std::memory_order_relaxed) ||
         connection->violated.load(std::memory_order_relaxed) ||
         pool_->mapping().visibility().Consume(&connection->view.requests->closed) != kOpen)) {
      Retire(slot, connection);
    }
    connection->polling.clear(std::memory_order_release);
    return false;
  }
  connection->handlers_running.fetch_add(1, std::memory_order_relaxed);
  // A lone worker keeps the flag and handles the requests that are there in a row: nobody else
  // could take them, and it spares the flag and the counters per request. One of several
  // workers takes one request and lets go, so that the others take the next ones meanwhile.
  const uint32_t batch = worker_count_ == 1 ? kRequestBatch : 1;
  uint32_t taken = 0;
  do {
    // Only the flag's holder writes the count.
    connection->requests_taken.store(connection->requests_taken.load(std::memory_order_relaxed) + 1,
                                     std::memory_order_relaxed);
    if (batch == 1) connection->polling.clear(std::memory_order_release);
    CrashPoint("server.after_read_request");
    Handle(connection, request);
  } while (++taken < batch && !stopping_.load(std::memory_order_relaxed) &&
           connection->requests.TryRead(&request));
  if (batch != 1) connection->polling.clear(std::memory_order_release);
  connection->handlers_running.fetch_sub(1, std::memory_order_release);
  return true;
}

bool ServerRuntime::AcceptPending() {
  bool accepted = false;
  const Visibility& visibility = pool_->mapping().visibility();
  for (const RegisteredService& service : services_) {
    ServiceEntry* entry = directory_.entry(service.ref.index);
    if (visibility.Consume(&entry->pending_connections) == 0) continue;
    uint64_t offset = Visibility::Exchange(&entry->pending_connections, 0);
    for (uint32_t walked = 0; offset != 0 && walked < kMaxPendingWalk; ++walked) {
      ConnectionView view;
      if (!OpenConnection(allocator_, offset, service.ref, &view)) break;
      uint64_t next = visibility.Consume(&view.header->next_pending);
      // A connection already open here (a cycle in the stack, or a client pushing it twice)
      // ends the walk: it was accepted once.
      if (!Accept(service, view)) break;
      accepted = true;
      offset = next;
    }
  }
  return accepted;
}

bool ServerRuntime::Accept(const RegisteredService& service, const ConnectionView& view) {
  {
    std::lock_guard<std::mutex> lock(retired_mutex_);
    if (!open_blocks_.insert(view.block_offset).second) return false;
  }
  const Visibility& visibility = pool_->mapping().visibility();
  uint32_t used = connection_slots_used_.load(std::memory_order_relaxed);
  uint32_t slot = 0;
  while (slot < used && connections_[slot].load(std::memory_order_relaxed) != nullptr) ++slot;
  if (slot == kMaxConnections || stopping_.load()) {
    visibility.Publish(&view.responses->closed, kClosedBySender);
    DetachConnection(&allocator_, view, Side::kServer);
    std::lock_guard<std::mutex> lock(retired_mutex_);
    open_blocks_.erase(view.block_offset);
    return true;
  }
  auto* connection = new Connection(view, &service, pool_);
  connection->client = ProcessIdentity{static_cast<int32_t>(view.header->client_pid),
                                       view.header->client_token};
  connections_[slot].store(connection, std::memory_order_release);
  SetHot(slot, true);
  if (slot == used) connection_slots_used_.store(used + 1, std::memory_order_release);
  Visibility::FetchAdd(&directory_.entry(service.ref.index)->connections_accepted, 1);
  CrashPoint("server.after_accept");
  return true;
}

void ServerRuntime::CheckClients() {
  auto now = Clock::now();
  if (now < next_client_check_) return;
  next_client_check_ = now + kClientCheckInterval;
  // Many connections usually share a few client processes: ask the kernel once per process.
  // Consecutive slots mostly belong to one process: the last answer is checked first.
  std::map<std::pair<int32_t, uint64_t>, bool> alive;
  std::pair<int32_t, uint64_t> last_process{-1, 0};
  bool last_alive = true;
  uint32_t used = connection_slots_used_.load(std::memory_order_acquire);
  for (uint32_t slot = 0; slot < used; ++slot) {
    Connection* connection = connections_[slot].load(std::memory_order_acquire);
    if (connection == nullptr || connection->client_dead.load(std::memory_order_relaxed)) continue;
    std::pair<int32_t, uint64_t> process{connection->client.pid, connection->client.token};
    if (process != last_process) {
      auto known = alive.find(process);
      last_alive = known != alive.end()
                       ? known->second
                       : alive.emplace(process, IsAlive(connection->client)).first->second;
      last_process = process;
    }
    if (!last_alive) connection->client_dead.store(true, std::memory_order_relaxed);
  }
}

void ServerRuntime::Retire(uint32_t slot, Connection* connection) {
  connection->retired = true;
  SetHot(slot, false);
  connections_[slot].store(nullptr, std::memory_order_release);
  connection->cache.reset();
  {
    // Before the block can be freed and come back as another connection.
    std::lock_guard<std::mutex> lock(retired_mutex_);
    open_blocks_.erase(connection->view.block_offset);
  }
  DetachConnection(&allocator_, connection->view, Side::kServer,
                   connection->client_dead.load(std::memory_order_relaxed));
  Retired retired{std::unique_ptr<Connection>(connection), {}};
  std::lock_guard<std::mutex> lock(retired_mutex_);
  for (uint32_t i = 0; i < worker_count_; ++i) {
    retired.passes.push_back(worker_passes_[i].load(std::memory_order_acquire));
  }
  retired_.push_back(std::move(retired));
}

void ServerRuntime::ReclaimRetired() {
  std::lock_guard<std::mutex> lock(retired_mutex_);
  std::erase_if(retired_, [this](const Retired& retired) {
    // A worker that finished a pass after the retirement no longer holds the pointer.
    for (size_t i = 0; i < retired.passes.size(); ++i) {
      if (worker_passes_[i].load(std::memory_order_acquire) <= retired.passes[i]) return false;
    }
    return true;
  });
}

void ServerRuntime::Handle(Connection* connection, const Message& request) {
  const std::vector<Service::Method>& methods = connection->service->service->methods();
  bool async = request.code < methods.size() && methods[request.code].async_handler != nullptr;
  ServerCall local(this, connection, request.call_id, connection->cache.get());
  // An asynchronous call lives on the heap until Finish; one that cannot start is answered here.
  ServerCall* call =
      async ? new ServerCall(this, connection, request.call_id, local.response_.cache_) : &local;
  bool violated = false;
  Status status = Decode(connection, request, call, &violated);
  uint64_t token = 0;
  bool at_most_once = status.ok() && TakeCallToken(&call->context_.client_metadata_, &token);
  if (status.ok() && async) {
    if (!at_most_once) {
      StartAsync(connection, call, methods[request.code].async_handler);
      return;
    }
    status = Status(StatusCode::FAILED_PRECONDITION,
                    "method '" + methods[request.code].name +
                        "' is asynchronous; at-most-once calls need a synchronous method");
  } else if (status.ok()) {
    const MethodHandler& handler = methods[request.code].handler;
    status = at_most_once
                 ? RunAtMostOnce(token, handler, &call->context_, call->request_, &call->response_)
                 : RunHandler(handler, &call->context_, call->request_, &call->response_);
  }
  call->request_.Release();
  Respond(connection, request.call_id, status, &call->context_, &call->response_);
  if (async) delete call;
  if (violated) CloseForViolation(connection);
}

Status ServerRuntime::Decode(Connection* connection, const Message& request, ServerCall* call,
                             bool* violated) {
  const Service* service = connection->service->service;
  ServerContext& context = call->context_;
  context.cancel_word_ =
      &connection->view
           .cancel_words[static_cast<uint32_t>(request.call_id) & (connection->view.capacity - 1)];
  context.call_id_ = request.call_id;
  context.visibility_ = &pool_->mapping().visibility();
  context.client_died_ = &connection->client_dead;
  context.client_ = &connection->client;
  context.deadline_ = Clock::time_point::max();
  if (request.timeout_ns != 0) {
    // A timeout the clock cannot add (from a faulty client) means no deadline, not an overflow.
    auto now = Clock::now();
    auto room =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::time_point::max() - now);
    if (request.timeout_ns < static_cast<uint64_t>(room.count())) {
      context.deadline_ = now + std::chrono::nanoseconds(request.timeout_ns);
    }
  }
  BufferCache* cache = connection->cache.get();
  Status status;
  // Garbage from the client: the call fails with INTERNAL and the connection is closed.
  auto violation = [&status, violated](const char* what) {
    *violated = true;
    status = Status(StatusCode::INTERNAL, std::string("the client broke the protocol (") + what +
                                              "); the server closed the connection");
  };
  if (request.kind() != DescriptorKind::kRequest) violation("a descriptor that is not a request");
  // Take both blocks before judging either, so that neither leaks when the other is invalid.
  if (!status.ok()) {
  } else if (request.flags & kPayloadInBlock) {
    if (!cache->AdoptMessage(request.payload.block, &call->request_)) {
      violation("an invalid payload block");
    }
  } else if (request.inline_length <= kInlinePayloadBytes) {
    BufferCache::InlineMessage(request.payload.inline_bytes, request.inline_length,
                               &call->request_);
  } else {
    violation("an invalid inline length");
  }
  if (request.flags & kHasMetadata) {
    uint64_t capacity = 0;
    const uint8_t* bytes = cache->AdoptWhole(request.metadata_offset, &capacity);
    Metadata* sections[kMetadataSectionCount] = {&context.client_metadata_, nullptr, nullptr};
    if ((bytes == nullptr || !DecodeMetadata(bytes, capacity, nullptr, sections)) && status.ok()) {
      violation("an invalid metadata block");
    }
    if (bytes != nullptr) cache->Release(request.metadata_offset);
  }
  if (status.ok() && request.code >= service->methods().size()) {
    status = Status(
        StatusCode::UNIMPLEMENTED,
        "service '" + service->name() + "' has no method number " + std::to_string(request.code));
  }
  bool has_deadline = context.deadline_ != Clock::time_point::max();
  if (status.ok() && has_deadline && Clock::now() >= context.deadline_) {
    status = Status(StatusCode::DEADLINE_EXCEEDED, "deadline passed before the handler ran");
  }
  return status;
}

void ServerRuntime::StartAsync(Connection* connection, ServerCall* call,
                               const AsyncMethodHandler& handler) {
  {
    std::lock_guard<std::mutex> lock(async_mutex_);
    ++async_calls_;
  }
  connection->handlers_running.fetch_add(1, std::memory_order_relaxed);
  // Shutdown waits for asynchronous calls: they see it as a cancellation, to hurry.
  call->context_.server_stopping_ = &stopping_;
  CrashPoint("server.before_handler");
  handler(call);
}

void ServerRuntime::FinishAsync(ServerCall* call, Status status) {
  Connection* connection = call->connection_;
  status = Conclude(call->context_, call->response_, std::move(status));
  call->request_.Release();
  Respond(connection, call->call_id_, status, &call->context_, &call->response_);
  delete call;
  connection->handlers_running.fetch_sub(1, std::memory_order_release);
  std::lock_guard<std::mutex> lock(async_mutex_);
  if (--async_calls_ == 0) async_done_.notify_all();
}

void ServerRuntime::CloseForViolation(Connection* connection) {
  MarkForSweep(connection->view);
  pool_->mapping().visibility().Publish(&connection->view.responses->closed, kClosedForViolation);
  connection->violated.store(true, std::memory_order_relaxed);
}

Status ServerRuntime::RunHandler(const MethodHandler& handler, ServerContext* context,
                                 const ReceivedMessage& request, ServerResponse* response) {
  CrashPoint("server.before_handler");
  Status status;
  try {
    status = handler(context, request, response);
  } catch (const std::exception& error) {
    status = Status(StatusCode::UNKNOWN, std::string("the handler threw: ") + error.what());
  } catch (...) {
    status = Status(StatusCode::UNKNOWN, "the handler threw an exception");
  }
  return Conclude(*context, *response, std::move(status));
}

Status ServerRuntime::Conclude(const ServerContext& context, const ServerResponse& response,
                               Status status) {
  if (status.ok() && !response.error_.ok()) status = response.error_;
  // As in gRPC, a call whose deadline passed while its handler ran has failed, whatever the
  // handler returned.
  if (context.deadline_ != Clock::time_point::max() && Clock::now() >= context.deadline_) {
    status = Status(StatusCode::DEADLINE_EXCEEDED, "deadline exceeded while the handler ran");
  }
  return status;
}

bool ServerRuntime::TakeCallToken(Metadata* metadata, uint64_t* token) {
  if (metadata->empty()) return false;  // most calls: no lookup, no key to build
  auto entry = metadata->find(kCallTokenKey);
  if (entry == metadata->end()) return false;
  bool valid = entry->second.size() == sizeof(*token);
  if (valid) std::memcpy(token, entry->second.data(), sizeof(*token));
  metadata->erase(entry);
  return valid && *token != 0;
}

Status ServerRuntime::RunAtMostOnce(uint64_t token, const MethodHandler& handler,
                                    ServerContext* context, const ReceivedMessage& request,
                                    ServerResponse* response) {
  if (!window_.enabled()) {
    return Status(StatusCode::FAILED_PRECONDITION,
                  "pool " + pool_->path() +
                      " has no at-most-once window (created with call_window_slots = 0)");
  }
  CallWindow::Entry entry = window_.Begin(token);
  switch (entry.kind) {
    case CallWindow::Entry::kDone:
      if (entry.code != StatusCode::OK) {
        return Status(entry.code, "the result of an earlier attempt of this call");
      }
      response->Copy(entry.response);
      return response->error_;
    case CallWindow::Entry::kInterrupted:
      return Status(StatusCode::ABORTED,
                    "an earlier attempt of this call was interrupted when its server died; it may "
                    "have run, so it is not run again");
    case CallWindow::Entry::kRunning:
      return Status(StatusCode::ABORTED,
                    "an earlier attempt of this call is still running (process " +
                        std::to_string(entry.pid) + "); it is not run twice");
    case CallWindow::Entry::kFull:
      return Status(StatusCode::RESOURCE_EXHAUSTED,
                    "the at-most-once window of pool " + pool_->path() +
                        " is full of running calls; create the pool with more call_window_slots");
    case CallWindow::Entry::kFresh:
      break;
  }
  Status status = RunHandler(handler, context, request, response);
  std::string_view result;
  if (status.ok()) {
    result = response->buffer_.valid()
                 ? std::string_view(reinterpret_cast<const char*>(response->buffer_.data()),
                                    response->buffer_.size())
                 : std::string_view(reinterpret_cast<const char*>(response->inline_),
                                    response->inline_size_);
  }
  window_.Finish(entry.slot, token, status.error_code(), result);
  return status;
}

void ServerRuntime::Respond(Connection* connection, uint64_t call_id, const Status& status,
                            const ServerContext* context, ServerResponse* response) {
  BufferCache* cache = connection->cache.get();
  uint64_t client = connection->view.endpoint(Side::kClient);
  Message message;
  message.call_id = call_id;
  message.flags = static_cast<uint16_t>(DescriptorKind::kResponse);
  message.code = static_cast<uint32_t>(status.error_code());
  if (status.ok() && response->buffer_.valid()) {
    message.flags |= kPayloadInBlock;
    message.payload.block = cache->Publish(&response->buffer_, client);
  } else if (status.ok()) {
    message.inline_length = static_cast<uint16_t>(response->inline_size_);
    std::memcpy(message.payload.inline_bytes, response->inline_, response->inline_size_);
  }
  MetadataSet set;
  set.status_message = &status.error_message();
  set.sections[static_cast<int>(MetadataSection::kInitial)] = &context->initial_metadata_;
  set.sections[static_cast<int>(MetadataSection::kTrailing)] = &context->trailing_metadata_;
  if (!status.error_message().empty() || !context->initial_metadata_.empty() ||
      !context->trailing_metadata_.empty()) {
    uint64_t bytes = EncodedMetadataBytes(set);
    uint64_t block;
    if (cache->AllocateBlock(bytes, &block).ok()) {
      EncodeMetadata(set, cache->PayloadOf(block));
      cache->PublishBlock(block, bytes, client);
      message.flags |= kHasMetadata;
      message.metadata_offset = block;
    }
  }
  uint64_t position;
  if (!connection->responses.TryClaim(&position)) {
    // A client that follows the protocol never has more calls outstanding than the ring holds,
    // so a full ring means it sent more than it may, or stopped reading: close it.
    if (message.flags & kPayloadInBlock) cache->Release(message.payload.block.block_offset);
    if (message.flags & kHasMetadata) cache->Release(message.metadata_offset);
    CloseForViolation(connection);
    return;
  }
  CrashPoint("server.before_publish_response");
  connection->responses.Publish(position, message);
  CrashPoint("server.after_publish_response");
}

}  // namespace notnets::internal
