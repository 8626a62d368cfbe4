#include "rpc/server_runtime.h"

#include <unistd.h>

#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <utility>

#include "channel/orphans.h"
#include "channel/wait.h"
#include "pool/crash_point.h"
#include "pool/fence.h"
#include "pool/pool_access.h"
#include "pool/pool_mapping.h"
#include "pool/segment_sweep.h"
#include "rpc/call_codec.h"

namespace notnets::internal {

namespace {

using Clock = std::chrono::steady_clock;

// A hostile client could link pending connections into a cycle: never walk more than this.
constexpr uint32_t kMaxPendingWalk = 65536;

// The index of the worker the calling thread is: the counters slab it alone writes. Handle runs
// only on the workers of its server (or, in the fuzzer, on the thread that stands in for worker 0
// after stopping them).
thread_local uint32_t this_worker = 0;

// The time since `start` for the counters, or kUntimed for a call not timed (no start).
uint64_t NanosecondsSince(Clock::time_point start) {
  if (start == Clock::time_point()) return ServiceCounters::kUntimed;
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
}

}  // namespace

ServerRuntime::ServerRuntime(std::shared_ptr<Pool> pool, const WorkerPolicy& workers)
    : pool_(std::move(pool)),
      lease_(PoolAccess::mapping(*pool_).lease()),
      allocator_(&PoolAccess::mapping(*pool_)),
      directory_(&PoolAccess::mapping(*pool_), &allocator_),
      window_(&PoolAccess::mapping(*pool_), &allocator_),
      worker_count_(workers.max_workers),
      worker_passes_(new std::atomic<uint64_t>[workers.max_workers]),
      worker_pool_(
          std::make_unique<WorkerPool>(workers, [this](uint32_t slot) { WorkerLoop(slot); })) {
  for (uint32_t i = 0; i < worker_count_; ++i) worker_passes_[i].store(kSlotParked);
}

Status ServerRuntime::Start(std::shared_ptr<Pool> pool, const std::vector<Service*>& services,
                            const WorkerPolicy& workers, std::unique_ptr<ServerRuntime>* runtime,
                            uint32_t max_connections_per_client, ReplicaMode mode,
                            const AllowedCallers& callers, const std::vector<uint32_t>& registrants,
                            std::function<void()> on_rejoined) {
  if (Status valid = WorkerPool::Validate(workers); !valid.ok()) return valid;
  if (services.empty()) {
    return Status(StatusCode::INVALID_ARGUMENT, "register at least one service before starting");
  }
  std::unique_ptr<ServerRuntime> server(new ServerRuntime(std::move(pool), workers));
  // Before the entries name this process's token (Lease::epoch).
  server->epoch_ = server->lease_.epoch();
  server->on_rejoined_ = std::move(on_rejoined);
  server->max_connections_per_client_ = max_connections_per_client;
  server->allowed_callers_ = callers;
  server->own_uid_ = static_cast<uint32_t>(::geteuid());
  RegistrationAccess access;
  access.callers.uids.push_back(server->own_uid_);
  for (uint32_t uid : callers.uids) {
    if (uid != server->own_uid_) access.callers.uids.push_back(uid);
  }
  access.callers.gids = callers.gids;
  access.callers.anyone = callers.anyone;
  access.registrants = registrants;
  for (Service* service : services) {
    std::vector<std::string> names;
    for (const Service::Method& method : service->methods()) names.push_back(method.name);
    ServiceRef ref;
    uint32_t doorbell_entry =
        server->services_.empty() ? Directory::kOwnDoorbell : server->services_[0].ref.index;
    Status status =
        server->directory_.Register(service->name(), names, doorbell_entry, &ref, mode, access);
    if (!status.ok()) {
      for (const RegisteredService& done : server->services_) {
        server->directory_.Unregister(done.ref);
      }
      server->services_.clear();
      return status;
    }
    server->services_.push_back(RegisteredService{service, ref, nullptr});
  }
  for (RegisteredService& service : server->services_) {
    service.counters =
        std::make_unique<ServiceCounters>(&PoolAccess::mapping(*server->pool_), &server->allocator_,
                                          server->directory_, service.ref, workers.max_workers);
  }
  {
    MutexLock lock(&server->retired_mutex_);
    server->open_per_service_.assign(server->services_.size(), 0);
  }
  server->doorbell_ = server->directory_.DoorbellOf(server->services_[0].ref);
  server->worker_pool_->Start();
  *runtime = std::move(server);
  return Status::OK;
}

ServerRuntime::~ServerRuntime() { Shutdown(); }

void ServerRuntime::Shutdown() {
  {
    MutexLock lock(&shutdown_mutex_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  if (!lease_.MayWrite(epoch_)) return ShutDownFenced();
  for (const RegisteredService& service : services_) directory_.BeginClose(service.ref);
  stopping_.store(true);
  doorbell_.Ring();
  worker_pool_->Stop();
  {
    // Their contexts report IsCancelled() now; each still answers its connection.
    MutexLock lock(&async_mutex_);
    while (async_calls_ != 0) async_done_.Wait(&async_mutex_);
  }
  for (const RegisteredService& service : services_) service.counters->WriteBack();
  // Connections that arrived after the last accept are taken now only to be closed.
  AcceptPending();
  const Visibility& visibility = PoolAccess::mapping(*pool_).visibility();
  for (uint32_t i = 0; i < connections_.used(); ++i) {
    Connection* connection = connections_.At(i);
    if (connection == nullptr) continue;
    visibility.Publish(&connection->view.responses->closed, kClosedBySender);
    connection->cache.reset();
    DetachConnection(&allocator_, connection->view, Side::kServer);
    delete connection;
    connections_.Remove(i);
  }
  {
    MutexLock lock(&retired_mutex_);
    retired_.clear();
  }
  FreeRefused(true);
  for (const RegisteredService& service : services_) directory_.Unregister(service.ref);
  MutexLock lock(&shutdown_mutex_);
  shutdown_done_.SignalAll();
}

void ServerRuntime::Drain(std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  // A fenced runtime's entries are its peers' now: it closes nothing, and has nothing to drain.
  if (!lease_.MayWrite(epoch_)) return Shutdown();
  BeginDrain();
  auto give_up = Clock::now() + timeout;
  auto quiet_since = Clock::now();
  uint64_t last_started = ~uint64_t{0};
  while (Clock::now() < give_up) {
    uint64_t started = 0;
    uint64_t finished = 0;
    for (const RegisteredService& service : services_) {
      started += service.counters->StartedSoFar();
      finished += service.counters->FinishedSoFar();
    }
    if (started != last_started) {
      last_started = started;
      quiet_since = Clock::now();
    }
    bool async_running;
    {
      MutexLock lock(&async_mutex_);
      async_running = async_calls_ != 0;
    }
    if (started == finished && !async_running && Clock::now() - quiet_since >= kDrainQuiet) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Shutdown();
}

void ServerRuntime::BeginDrain() {
  // A fenced runtime's entries are its peers' now.
  if (!lease_.MayWrite(epoch_)) return;
  for (const RegisteredService& service : services_) directory_.BeginClose(service.ref);
}

void ServerRuntime::ShutDownFenced() {
  stopping_.store(true);
  worker_pool_->Stop();
  {
    MutexLock lock(&async_mutex_);
    while (async_calls_ != 0) async_done_.Wait(&async_mutex_);
  }
  // Its peers freed every connection and block; the entry is theirs to take over. Only the
  // process's own bookkeeping goes.
  for (uint32_t i = 0; i < connections_.used(); ++i) {
    Connection* connection = connections_.At(i);
    if (connection == nullptr) continue;
    connection->cache.reset();
    delete connection;
    connections_.Remove(i);
  }
  {
    MutexLock lock(&retired_mutex_);
    retired_.clear();
  }
  MutexLock lock(&shutdown_mutex_);
  shutdown_done_.SignalAll();
}

void ServerRuntime::Wait() {
  MutexLock lock(&shutdown_mutex_);
  while (!shut_down_) shutdown_done_.Wait(&shutdown_mutex_);
}

void ServerRuntime::WorkerLoop(uint32_t worker) {
  this_worker = worker;
  // The slot's count goes on from its earlier workers', so that a retirement recorded while one of
  // them ran waits for a pass of this one. Seen before this worker looks at any connection: Retire
  // records either this count or a slot whose worker can no longer find the connection.
  uint64_t pass = worker_passes_[worker].load() & ~kSlotParked;
  worker_passes_[worker].store(pass);
  SequentialFence();
  Backoff backoff;
  Clock::time_point idle_since;
  for (++pass; !stopping_.load(std::memory_order_relaxed); ++pass) {
    // A server that lost its lease was declared dead, and its connections reclaimed: it only
    // waits for its shutdown, which follows once the process rejoined under a new identity.
    if (!lease_.MayWrite(epoch_)) {
      if (lease_.epoch() != epoch_ && on_rejoined_ && !told_rejoined_.exchange(true)) {
        on_rejoined_();
      }
      backoff.Wait();
      continue;
    }
    // Accepting, retiring and reclaiming are rare: every kSlowPassInterval passes, or when idle.
    bool idle = backoff.sleeping();
    bool slow_pass = pass % kSlowPassInterval == 0 || idle;
    bool worked = false;
    if (slow_pass && housekeeping_.TryLock()) {
      worked = AcceptPending();
      CheckClients();
      SweepOrphans();
      CoolDown();
      WriteBackCounters();
      if (idle) ReclaimRetired();
      housekeeping_.Unlock();
    }
    uint32_t used = connections_.used();
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
      idle_since = Clock::time_point();
    } else if (idle) {
      if (worker_pool_->scaling() && RetireIfIdle(worker, pass, &idle_since)) return;
      SleepUntilRung();
    } else {
      backoff.Wait();
    }
  }
  worker_passes_[worker].store(pass | kSlotParked, std::memory_order_release);
}

bool ServerRuntime::RetireIfIdle(uint32_t worker, uint64_t pass, Clock::time_point* idle_since) {
  auto now = Clock::now();
  if (*idle_since == Clock::time_point()) *idle_since = now;
  if (now - *idle_since < WorkerPool::kIdleRetire) return false;
  // Parked before the slot is given up, so that its next worker's count is not overwritten.
  // Between passes this worker holds no connection, so the mark is true while it is set.
  worker_passes_[worker].store(pass | kSlotParked, std::memory_order_release);
  if (worker_pool_->TryRetire(worker)) return true;
  // Staying: unparked before the next pass looks at a connection, as when a worker starts.
  worker_passes_[worker].store(pass);
  SequentialFence();
  *idle_since = now;
  return false;
}

bool ServerRuntime::PollHot(uint32_t used) {
  return connections_.ForEachHot(used, [this](uint32_t slot, Connection* connection) {
    return Poll(slot, connection, false, true);
  });
}

bool ServerRuntime::PollInTurn(uint32_t used, uint32_t turns, bool check_closed) {
  bool worked = false;
  for (uint32_t turn = 0; turn < turns && !stopping_.load(std::memory_order_relaxed); ++turn) {
    uint32_t slot = connections_.NextTurn(used);
    Connection* connection = connections_.At(slot);
    // Hot connections had their turn in PollHot; here they are only checked for a closed client.
    bool hot = connections_.IsHot(slot);
    if (connection == nullptr || (hot && !check_closed)) continue;
    if (Poll(slot, connection, check_closed, /*take_request=*/!hot)) {
      connections_.SetHot(slot, true);
      worked = true;
    }
  }
  return worked;
}

void ServerRuntime::WriteBackCounters() {
  auto now = Clock::now();
  if (now < next_counters_write_back_) return;
  next_counters_write_back_ = now + kCountersWriteBackInterval;
  for (const RegisteredService& service : services_) service.counters->WriteBack();
}

void ServerRuntime::CoolDown() {
  auto now = Clock::now();
  if (now < next_cool_down_) return;
  next_cool_down_ = now + kCoolDownInterval;
  uint32_t used = connections_.used();
  for (uint32_t slot = 0; slot < used; ++slot) {
    Connection* connection = connections_.At(slot);
    if (connection == nullptr || !connections_.IsHot(slot)) continue;
    uint32_t taken = connection->requests_taken.load(std::memory_order_relaxed);
    connection->quiet_intervals =
        taken == connection->taken_at_cool_down ? connection->quiet_intervals + 1 : 0;
    connection->taken_at_cool_down = taken;
    if (connection->quiet_intervals >= 2) connections_.SetHot(slot, false);
  }
}

void ServerRuntime::SleepUntilRung() {
  uint64_t sequence = doorbell_.BeginSleep();
  if (!HasWork()) doorbell_.Sleep(sequence, kIdleSleep);
  doorbell_.EndSleep();
}

bool ServerRuntime::HasWork() const {
  if (stopping_.load(std::memory_order_relaxed)) return true;
  const Visibility& visibility = PoolAccess::mapping(*pool_).visibility();
  for (const RegisteredService& service : services_) {
    if (visibility.Consume(&directory_.entry(service.ref.index)->pending_connections) != 0) {
      return true;
    }
  }
  uint32_t used = connections_.used();
  for (uint32_t slot = 0; slot < used; ++slot) {
    Connection* connection = connections_.At(slot);
    if (connection != nullptr && connection->requests.HasMessage()) return true;
  }
  return false;
}

bool ServerRuntime::Poll(uint32_t slot, Connection* connection, bool check_closed,
                         bool take_request) {
  // Look before taking the flag: an empty ring costs one load. (A retired connection's memory
  // may be reused already; reading it is harmless, and the flag holder checks `retired`.)
  if (!check_closed && !(take_request && connection->requests.HasMessage())) return false;
  if (!connection->polling.TryLock()) return false;
  if (connection->retired) {
    connection->polling.Unlock();
    return false;
  }
  Message request;
  if (!take_request || !connection->requests.TryRead(&request)) {
    if ((connection->view.peer->faulted() || connection->view.own->faulted()) &&
        !connection->violated.load(std::memory_order_relaxed)) {
      // A segment was shortened under us (segment_guard.h): the client broke the connection.
      CloseForViolation(connection);
    }
    if (connection->handlers_running.load(std::memory_order_acquire) == 0 &&
        (connection->client_dead.load(std::memory_order_relaxed) ||
         (connection->violated.load(std::memory_order_relaxed) &&
          ClientCanSeeClosure(*connection)) ||
         PoolAccess::mapping(*pool_).visibility().Consume(&connection->view.requests->closed) !=
             kOpen)) {
      Retire(slot, connection);
    }
    connection->polling.Unlock();
    return false;
  }
  connection->handlers_running.fetch_add(1, std::memory_order_relaxed);
  // Only the flag's holder writes the count.
  auto count_taken = [connection] {
    connection->requests_taken.store(connection->requests_taken.load(std::memory_order_relaxed) + 1,
                                     std::memory_order_relaxed);
  };
  if (worker_count_ != 1) {
    // One of several workers takes one request and lets go, so that the others take the next
    // ones meanwhile.
    count_taken();
    connection->polling.Unlock();
    CrashPoint("server.after_read_request");
    if (worker_pool_->scaling()) worker_pool_->BeginCall();
    Handle(connection, request);
    if (worker_pool_->scaling()) worker_pool_->EndCall();
  } else {
    // A lone worker keeps the flag and handles the requests that are there in a row: nobody
    // else could take them, and it spares the flag and the counters per request.
    uint32_t taken = 0;
    do {
      count_taken();
      CrashPoint("server.after_read_request");
      Handle(connection, request);
    } while (++taken < kRequestBatch && !stopping_.load(std::memory_order_relaxed) &&
             connection->requests.TryRead(&request));
    connection->polling.Unlock();
  }
  connection->handlers_running.fetch_sub(1, std::memory_order_release);
  return true;
}

bool ServerRuntime::AcceptPending() {
  bool accepted = false;
  const Visibility& visibility = PoolAccess::mapping(*pool_).visibility();
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

bool ServerRuntime::Accept(const RegisteredService& service, ConnectionView view) {
  {
    MutexLock lock(&retired_mutex_);
    if (open_blocks_.count(view.block_offset) != 0) return false;
  }
  // Read once: a wrong value only misleads the checks of this client's own connections.
  ProcessIdentity client{static_cast<int32_t>(view.header->client_pid), view.header->client_token};
  if (!AcceptSegments(pool_->path(), &view).ok()) {
    // Nothing to serve: the client left it (its segment is gone), the name is garbage, or the
    // client died and another process removed its segment (RemoveSegmentsOfDeadCreators) before
    // this accept. A dead client never detaches its side: free the connection for both.
    DetachConnection(&allocator_, view, Side::kServer, !IsAlive(client));
    return true;
  }
  const Visibility& visibility = PoolAccess::mapping(*pool_).visibility();
  // The kernel's record of who created the client's segment, not anything the client wrote.
  bool allowed = allowed_callers_.Allows(own_uid_, view.peer->owner().uid, view.peer->owner().gid);
  bool stopping = stopping_.load();
  uint32_t slot = kMaxConnections;
  bool refused = false;
  std::optional<Refused> let_go;  // the client's oldest refused connection, past the most kept
  {
    MutexLock lock(&retired_mutex_);
    if (!open_blocks_.insert(view.block_offset).second) return false;
    if (stopping) {
      open_blocks_.erase(view.block_offset);
    } else {
      slot = connections_.FreeSlot();
      auto counted = per_client_.find(client.token);
      uint32_t held = counted != per_client_.end() ? counted->second : 0;
      refused = !allowed || slot == kMaxConnections || held >= max_connections_per_client_;
      if (refused) {
        // Refused, but not detached: if its client died before leaving it, nobody else would
        // free it (FreeRefused does, once the client has left or died, or had time to read why).
        open_blocks_.erase(view.block_offset);
        visibility.Publish(&view.responses->closed, allowed ? kClosedAtLimit : kClosedNotAllowed);
        uint32_t kept = 0;
        auto oldest = refused_.end();
        for (auto it = refused_.begin(); it != refused_.end(); ++it) {
          if (it->client.token != client.token) continue;
          if (kept++ == 0) oldest = it;
        }
        if (kept >= kMostRefusedPerClient) {
          let_go = *oldest;
          refused_.erase(oldest);
        }
        refused_.push_back(Refused{view, client, Clock::now()});
      } else {
        ++per_client_[client.token];
        size_t index = static_cast<size_t>(&service - services_.data());
        service.counters->SetConnectionsOpen(++open_per_service_[index]);
      }
    }
  }
  if (refused) {
    if (let_go) DetachConnection(&allocator_, let_go->view, Side::kServer);
    return true;
  }
  if (stopping) {
    visibility.Publish(&view.responses->closed, kClosedBySender);
    DetachConnection(&allocator_, view, Side::kServer);
    return true;
  }
  auto* connection = new Connection(view, &service, pool_, epoch_);
  connection->client = client;
  connection->peer = PeerIdentity{view.peer->owner().uid, view.peer->owner().gid, client.pid,
                                  view.header->client_host};
  connections_.Insert(slot, connection);
  Visibility::FetchAdd(&directory_.entry(service.ref.index)->connections_accepted, 1);
  CrashPoint("server.after_accept");
  return true;
}

void ServerRuntime::CheckClients() {
  auto now = Clock::now();
  if (now < next_client_check_) return;
  next_client_check_ = now + kClientCheckInterval;
  FreeRefused(false);
  // Many connections usually share a few client processes: ask the kernel once per process.
  // Consecutive slots mostly belong to one process: the last answer is checked first.
  std::map<std::pair<int32_t, uint64_t>, bool> alive;
  std::pair<int32_t, uint64_t> last_process{-1, 0};
  bool last_alive = true;
  uint32_t used = connections_.used();
  for (uint32_t slot = 0; slot < used; ++slot) {
    Connection* connection = connections_.At(slot);
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
    if (!connection->segment_unlinked && PoolAccess::mapping(*pool_).visibility().Consume(
                                             &connection->view.requests->peer_opened) != 0) {
      // The client has this side's segment open: it needs no name any more.
      connection->view.own->Unlink();
      connection->segment_unlinked = true;
    }
  }
}

void ServerRuntime::FreeRefused(bool shutting_down) {
  std::vector<Refused> refused;
  {
    MutexLock lock(&retired_mutex_);
    refused.swap(refused_);
  }
  std::vector<Refused> kept;
  for (const Refused& connection : refused) {
    bool client_left =
        Visibility::LoadOrdered(&connection.view.header->lifecycle) & kClientDetached;
    bool client_dead = !client_left && !IsAlive(connection.client);
    bool held_long_enough = Clock::now() - connection.since >= kRefusalHold;
    if (client_left || client_dead || shutting_down || held_long_enough) {
      DetachConnection(&allocator_, connection.view, Side::kServer, client_dead);
    } else {
      kept.push_back(connection);
    }
  }
  MutexLock lock(&retired_mutex_);
  refused_.insert(refused_.end(), kept.begin(), kept.end());
}

void ServerRuntime::SweepOrphans() {
  auto now = Clock::now();
  if (now < next_orphan_sweep_) return;
  next_orphan_sweep_ = now + kOrphanSweepInterval;
  for (const RegisteredService& service : services_) {
    FreeOrphanedConnections(&allocator_, service.ref);
    // Dead servers of the same name that no registration took over: their entries, method
    // tables, counters and connections whose clients died too come back. Their connections with
    // live clients are freed by those clients.
    for (const ServiceRef& dead : directory_.DeadNamesakes(service.ref, service.service->name())) {
      directory_.Reclaim(
          dead, [this](const ServiceRef& held) { FreeOrphanedConnections(&allocator_, held); });
    }
  }
  // Entries whose claimers died holding them, whatever their names.
  for (const ServiceRef& abandoned : directory_.AbandonedClaims()) {
    directory_.Reclaim(
        abandoned, [this](const ServiceRef& held) { FreeOrphanedConnections(&allocator_, held); });
  }
  // Connections of clients that died before this server accepted them (before they even wrote
  // their header, or before they pushed them), which nobody else would free while it lives.
  std::vector<ServiceRef> held;
  for (const RegisteredService& service : services_) held.push_back(service.ref);
  FreeUnacceptedConnectionsOfDeadClients(&allocator_, held, [this] { AcceptPending(); });
  // Blocks that processes killed inside Allocate had taken and not yet given an owner.
  allocator_.ReturnBlocksOfDeadTakers();
  // Files of clients (and servers) killed before both sides had mapped them.
  RemoveSegmentsOfDeadCreators(pool_->path());
}

void ServerRuntime::Retire(uint32_t slot, Connection* connection) {
  connection->retired = true;
  connections_.Remove(slot);
  connection->cache.reset();
  {
    // Before the block can be freed and come back as another connection.
    MutexLock lock(&retired_mutex_);
    open_blocks_.erase(connection->view.block_offset);
    auto counted = per_client_.find(connection->client.token);
    if (counted != per_client_.end() && --counted->second == 0) per_client_.erase(counted);
    connection->service->counters->SetConnectionsOpen(
        --open_per_service_[ServiceIndex(*connection)]);
  }
  DetachConnection(&allocator_, connection->view, Side::kServer,
                   connection->client_dead.load(std::memory_order_relaxed));
  Retired retired{std::unique_ptr<Connection>(connection), {}};
  MutexLock lock(&retired_mutex_);
  // Pairs with the fence of a worker starting in a parked slot (WorkerLoop).
  SequentialFence();
  for (uint32_t i = 0; i < worker_count_; ++i) {
    // A parked slot holds nothing: 0 lets any later count through.
    uint64_t passes = worker_passes_[i].load(std::memory_order_acquire);
    retired.passes.push_back(passes & kSlotParked ? 0 : passes);
  }
  retired_.push_back(std::move(retired));
}

void ServerRuntime::ReclaimRetired() {
  MutexLock lock(&retired_mutex_);
  std::erase_if(retired_, [this](const Retired& retired) {
    // A worker that finished a pass after the retirement no longer holds the pointer.
    for (size_t i = 0; i < retired.passes.size(); ++i) {
      if (worker_passes_[i].load(std::memory_order_acquire) <= retired.passes[i]) return false;
    }
    return true;
  });
}

void ServerRuntime::Handle(Connection* connection, const Message& request) {
  ServiceCounters& counters = *connection->service->counters;
  Clock::time_point started =
      counters.CallStarted(this_worker) ? Clock::now() : Clock::time_point();
  counters.SetBusy(this_worker, true);
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
      call->started_ = started;
      StartAsync(connection, call, methods[request.code].async_handler);
      counters.SetBusy(this_worker, false);
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
  // Counted before the response is sent: a client that has its answer sees its call counted.
  counters.CallFinished(this_worker, status.error_code(), NanosecondsSince(started));
  counters.SetBusy(this_worker, false);
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
  context.visibility_ = &PoolAccess::mapping(*pool_).visibility();
  context.client_died_ = &connection->client_dead;
  context.client_ = &connection->client;
  context.peer_identity_ = connection->peer;
  context.deadline_ = RequestDeadline(request);
  Status status;
  if (const char* what = DecodeRequest(connection->cache.get(), request, &call->request_,
                                       &context.client_metadata_);
      what != nullptr) {
    // Garbage from the client: the call fails with INTERNAL and the connection is closed.
    *violated = true;
    status = Status(StatusCode::INTERNAL, std::string("the client broke the protocol (") + what +
                                              "); the server closed the connection");
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
    MutexLock lock(&async_mutex_);
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
  {
    // Any thread may finish a call: the asynchronous slab's writers take turns under this lock.
    ServiceCounters& counters = *connection->service->counters;
    MutexLock lock(&async_mutex_);
    counters.CallFinished(counters.async_slab(), status.error_code(),
                          NanosecondsSince(call->started_));
  }
  Respond(connection, call->call_id_, status, &call->context_, &call->response_);
  delete call;
  connection->handlers_running.fetch_sub(1, std::memory_order_release);
  MutexLock lock(&async_mutex_);
  if (--async_calls_ == 0) async_done_.SignalAll();
}

bool ServerRuntime::ClientCanSeeClosure(const Connection& connection) const {
  if (connection.view.peer->faulted()) return true;
  return PoolAccess::mapping(*pool_).visibility().Consume(&connection.view.requests->peer_opened) !=
             0 ||
         (Visibility::LoadOrdered(&connection.view.header->lifecycle) & kClientDetached);
}

void ServerRuntime::CloseForViolation(Connection* connection) {
  MarkForSweep(connection->view);
  PoolAccess::mapping(*pool_).visibility().Publish(&connection->view.responses->closed,
                                                   kClosedForViolation);
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
  Message message;
  EncodeResponse(
      connection->cache.get(), connection->view.endpoint(Side::kClient), call_id, status,
      &response->buffer_,
      std::string_view(reinterpret_cast<const char*>(response->inline_), response->inline_size_),
      context->initial_metadata_, context->trailing_metadata_, &message);
  uint64_t position;
  if (!lease_.MayWrite(epoch_)) {  // fenced while the handler ran: the connection is not ours now
    return;
  }
  if (!connection->responses.TryClaim(&position)) {
    // A client that follows the protocol never has more calls outstanding than the ring holds,
    // so a full ring means it sent more than it may, or stopped reading: close it.
    ReleaseEncoded(connection->cache.get(), message);
    CloseForViolation(connection);
    return;
  }
  CrashPoint("server.before_publish_response");
  connection->responses.Publish(position, message);
  connection->response_bell.Ring();
  CrashPoint("server.after_publish_response");
}

}  // namespace notnets::internal
