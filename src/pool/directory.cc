#include "pool/directory.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>

#include "pool/crash_point.h"
#include "pool/host_id.h"
#include "pool/name_file.h"
#include "pool/process_identity.h"

namespace notnets::internal {

namespace {

// "MTB1": a block holding a service's method names.
constexpr uint32_t kMethodTableMagic = 0x3142544d;

constexpr int kMaxRegisterAttempts = 8;

struct MethodTableHeader {
  uint32_t magic;
  uint32_t count;
  uint64_t record_bytes;  // bytes of records after this header
};
static_assert(sizeof(MethodTableHeader) == 16);

uint64_t RecordBytes(const std::string& name) { return 4 + (name.size() + 3) / 4 * 4; }

}  // namespace

Directory::Directory(PoolMapping* mapping, Allocator* allocator)
    : mapping_(mapping), allocator_(allocator) {}

ServiceEntry* Directory::entry(uint32_t index) const {
  return mapping_->At<ServiceEntry>(mapping_->directory_offset() + index * sizeof(ServiceEntry));
}

void Directory::WriteName(ServiceEntry* entry, std::string_view name) {
  char bytes[kMaxServiceNameBytes] = {};
  std::memcpy(bytes, name.data(), name.size());
  for (size_t i = 0; i < kMaxServiceNameBytes / 8; ++i) {
    uint64_t word;
    std::memcpy(&word, bytes + i * 8, 8);
    entry->name_words[i].store(word, std::memory_order_relaxed);
  }
  entry->name_length.store(name.size(), std::memory_order_relaxed);
}

bool Directory::ReadName(const ServiceEntry& entry, std::string* name) const {
  // The registrar wrote the name and the owner fields read after it in any process, and wrote
  // them back before it activated the entry; the state word alone covers only the first line.
  mapping_->visibility().Invalidate(&entry, sizeof(entry));
  uint64_t length = entry.name_length.load(std::memory_order_relaxed);
  if (length == 0 || length > kMaxServiceNameBytes) return false;
  char bytes[kMaxServiceNameBytes];
  for (size_t i = 0; i < kMaxServiceNameBytes / 8; ++i) {
    uint64_t word = entry.name_words[i].load(std::memory_order_relaxed);
    std::memcpy(bytes + i * 8, &word, 8);
  }
  name->assign(bytes, length);
  return true;
}

bool Directory::ReadMethods(uint64_t offset, std::vector<std::string>* methods) const {
  uint64_t capacity = 0;
  if (allocator_->ValidBlock(offset, &capacity) == nullptr) return false;
  const uint8_t* payload = mapping_->At<uint8_t>(offset + kBlockHeaderBytes);
  mapping_->visibility().Invalidate(payload, capacity);
  MethodTableHeader table;
  std::memcpy(&table, payload, sizeof(table));
  if (table.magic != kMethodTableMagic || table.count > kMaxMethodsPerService ||
      table.record_bytes > capacity - sizeof(table)) {
    return false;
  }
  const uint8_t* cursor = payload + sizeof(table);
  const uint8_t* end = cursor + table.record_bytes;
  methods->clear();
  for (uint32_t i = 0; i < table.count; ++i) {
    uint32_t length;
    if (end - cursor < 4) return false;
    std::memcpy(&length, cursor, 4);
    if (length == 0 || length > kMaxMethodNameBytes || uint64_t(end - cursor - 4) < length) {
      return false;
    }
    methods->emplace_back(reinterpret_cast<const char*>(cursor + 4), length);
    cursor += 4 + (length + 3) / 4 * 4;
  }
  return true;
}

bool Directory::Excludes(const ServiceEntry& e, ReplicaMode mode) {
  return mode != ReplicaMode::kReplica || e.replica.mode.load(std::memory_order_relaxed) !=
                                              static_cast<uint64_t>(ReplicaMode::kReplica);
}

Status Directory::Register(std::string_view name, const std::vector<std::string>& methods,
                           uint32_t doorbell_entry, ServiceRef* ref, ReplicaMode mode,
                           const RegistrationAccess& access, int attempt) {
  if (name.empty() || name.size() > kMaxServiceNameBytes) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "service name must be 1 to " + std::to_string(kMaxServiceNameBytes) + " bytes");
  }
  if (methods.size() > kMaxMethodsPerService) {
    return Status(StatusCode::INVALID_ARGUMENT,
                  "a service has at most " + std::to_string(kMaxMethodsPerService) + " methods");
  }
  if (mapping_->shortened()) return mapping_->ShortenedStatus();
  std::set<std::string> unique;
  uint64_t record_bytes = 0;
  for (const std::string& method : methods) {
    if (method.empty() || method.size() > kMaxMethodNameBytes || !unique.insert(method).second) {
      return Status(StatusCode::INVALID_ARGUMENT,
                    "method name '" + method + "' of service '" + std::string(name) +
                        "' is empty, longer than " + std::to_string(kMaxMethodNameBytes) +
                        " bytes, or repeated");
    }
    record_bytes += RecordBytes(method);
  }

  ProcessIdentity self = SelfIdentity();
  auto self_uid = static_cast<uint32_t>(::geteuid());
  // The name's owner is the owner of its file, which the first registrant creates: nothing in the
  // directory, which every process of the pool may write, decides it.
  NameOwner name_owner;
  Status claimed_name =
      ClaimName(mapping_->path(), name, self_uid, access.registrants, &name_owner);
  if (!claimed_name.ok()) return claimed_name;
  if (!name_owner.Allows(self_uid)) {
    return Status(StatusCode::PERMISSION_DENIED,
                  "service '" + std::string(name) + "' belongs to uid " +
                      std::to_string(name_owner.uid) + " in pool " + mapping_->path() + "; uid " +
                      std::to_string(self_uid) +
                      " may not register a server under it: only its owner and the users "
                      "the owner lists (ServerBuilder::AllowRegistrantUid) may; choose another "
                      "name");
  }
  // Find an entry to claim: a free one, or one whose server died. Refuse if a live one has the
  // name, unless both are replicas.
  uint32_t claimed = mapping_->max_services();
  uint64_t claimed_state = 0;
  for (uint32_t i = 0; i < mapping_->max_services(); ++i) {
    ServiceEntry* e = entry(i);
    uint64_t state = Visibility::LoadOrdered(&e->state);
    std::string existing;
    if (StateOf(state) == ServiceState::kFree) {
      if (claimed == mapping_->max_services()) {
        claimed = i;
        claimed_state = state;
      }
      continue;
    }
    if (StateOf(state) != ServiceState::kActive || !ReadName(*e, &existing) || existing != name) {
      continue;
    }
    ProcessIdentity owner{static_cast<int32_t>(e->server_pid.load(std::memory_order_relaxed)),
                          e->server_token.load(std::memory_order_relaxed)};
    if (IsAlive(owner)) {
      if (!Excludes(*e, mode)) continue;
      return Status(StatusCode::ALREADY_EXISTS,
                    "service '" + std::string(name) + "' is already served by process " +
                        std::to_string(owner.pid) + " in pool " + mapping_->path());
    }
    claimed = i;  // take over the entry of a dead server
    claimed_state = state;
    break;
  }
  if (claimed == mapping_->max_services()) FindDeadEntry(&claimed, &claimed_state);
  if (claimed == mapping_->max_services()) {
    return Status(StatusCode::RESOURCE_EXHAUSTED,
                  "the directory of pool " + mapping_->path() + " is full (" +
                      std::to_string(mapping_->max_services()) +
                      " services); create the pool with more services");
  }
  ServiceEntry* e = entry(claimed);
  uint64_t generation = GenerationOf(claimed_state) + 1;
  if (!Visibility::CompareExchange(&e->state, claimed_state,
                                   ServiceStateWord(generation, ServiceState::kClaimed))) {
    return Register(name, methods, doorbell_entry, ref, mode, access,
                    attempt);  // another server took it: look again
  }
  PublishClaim(e, generation);
  CrashPoint("server.after_claim_entry");
  // What a dead server or claimer left (a free entry names nothing). The server publishes its
  // own counters block once it is written (ServiceCounters).
  if (StateOf(claimed_state) != ServiceState::kFree) FreeNamedBlocks(e);

  uint64_t table_offset;
  Status status = allocator_->Allocate(sizeof(MethodTableHeader) + record_bytes, 0, &table_offset);
  if (!status.ok()) {
    Visibility::Exchange(&e->state, ServiceStateWord(generation, ServiceState::kFree));
    return status;
  }
  // Named at once, so that the entry's next holder frees it if this process dies.
  e->methods_offset.store(table_offset, std::memory_order_relaxed);
  uint8_t* payload = mapping_->At<uint8_t>(table_offset + kBlockHeaderBytes);
  MethodTableHeader table{kMethodTableMagic, static_cast<uint32_t>(methods.size()), record_bytes};
  std::memcpy(payload, &table, sizeof(table));
  uint8_t* cursor = payload + sizeof(table);
  for (const std::string& method : methods) {
    uint32_t length = static_cast<uint32_t>(method.size());
    std::memcpy(cursor, &length, 4);
    std::memcpy(cursor + 4, method.data(), length);
    cursor += RecordBytes(method);
  }
  mapping_->visibility().WriteBack(payload, sizeof(table) + record_bytes);

  e->pending_connections.store(0, std::memory_order_relaxed);
  e->server_pid.store(static_cast<uint64_t>(self.pid), std::memory_order_relaxed);
  e->server_token.store(self.token, std::memory_order_relaxed);
  e->server_uid.store(::geteuid(), std::memory_order_relaxed);
  WriteShownCallers(access.callers, &e->access);
  WriteNameOwner(name_owner, &e->access);
  e->connections_accepted.store(0, std::memory_order_relaxed);
  e->doorbell_entry.store(doorbell_entry == kOwnDoorbell ? claimed : doorbell_entry,
                          std::memory_order_relaxed);
  e->doorbell_sleepers.store(0, std::memory_order_relaxed);
  e->replica.mode.store(static_cast<uint64_t>(mode), std::memory_order_relaxed);
  e->replica.host_id.store(HostId(), std::memory_order_relaxed);
  WriteName(e, name);
  mapping_->visibility().WriteBack(e, sizeof(*e));
  Visibility::Exchange(&e->state, ServiceStateWord(generation, ServiceState::kActive));
  ref->index = claimed;
  ref->generation = generation;

  // Two servers may have registered one name in different entries at once. Each published its
  // entry before looking (both sequentially consistent), so at least one sees the other; whoever
  // sees another steps back and tries again after a random pause, when the survivor is found by
  // the check above. Replicas of one name stay side by side.
  for (uint32_t i = 0; i < mapping_->max_services(); ++i) {
    std::string existing;
    if (i == claimed ||
        StateOf(Visibility::LoadOrdered(&entry(i)->state)) != ServiceState::kActive ||
        !ReadName(*entry(i), &existing) || existing != name) {
      continue;
    }
    // A replica beside this one may stay: the name file let both in.
    if (!Excludes(*entry(i), mode)) continue;
    Unregister(*ref);
    if (attempt >= kMaxRegisterAttempts) {
      return Status(StatusCode::ALREADY_EXISTS,
                    "service '" + std::string(name) +
                        "' is being registered by another server at the same time in pool " +
                        mapping_->path());
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50 + std::rand() % 1000));
    return Register(name, methods, doorbell_entry, ref, mode, access, attempt + 1);
  }
  return Status::OK;
}

void Directory::PublishClaim(ServiceEntry* e, uint64_t generation) {
  e->claimer_token.store(SelfIdentity().token, std::memory_order_relaxed);
  mapping_->visibility().Publish(&e->claimer_generation, generation);
}

bool Directory::IsAbandonedClaim(uint32_t index, uint64_t* state) const {
  ServiceEntry* e = entry(index);
  uint64_t seen = Visibility::LoadOrdered(&e->state);
  if (StateOf(seen) != ServiceState::kClaimed) return false;
  // A claimer that has not published its claim yet is judged later: it may be alive, and the
  // token is then a former claimer's.
  if (mapping_->visibility().Consume(&e->claimer_generation) != GenerationOf(seen)) return false;
  ProcessIdentity claimer{0, e->claimer_token.load(std::memory_order_relaxed)};
  if (IsAlive(claimer) || Visibility::LoadOrdered(&e->state) != seen) return false;
  *state = seen;
  return true;
}

void Directory::FreeNamedBlocks(ServiceEntry* e) {
  mapping_->visibility().Invalidate(e, sizeof(*e));
  uint64_t methods_offset = e->methods_offset.load(std::memory_order_relaxed);
  uint64_t counters_offset = e->counters.block_offset.load(std::memory_order_relaxed);
  e->methods_offset.store(0, std::memory_order_relaxed);
  e->counters.block_offset.store(0, std::memory_order_relaxed);
  mapping_->visibility().WriteBack(e, sizeof(*e));
  if (allocator_->ValidBlock(methods_offset) != nullptr) allocator_->Free(methods_offset);
  if (allocator_->ValidBlock(counters_offset) != nullptr) allocator_->Free(counters_offset);
}

bool Directory::IsDeadEntry(uint32_t index, uint64_t* state) const {
  ServiceEntry* e = entry(index);
  uint64_t seen = Visibility::LoadOrdered(&e->state);
  if (StateOf(seen) != ServiceState::kActive && StateOf(seen) != ServiceState::kClosing) {
    return false;
  }
  mapping_->visibility().Invalidate(e, sizeof(*e));
  ProcessIdentity owner{static_cast<int32_t>(e->server_pid.load(std::memory_order_relaxed)),
                        e->server_token.load(std::memory_order_relaxed)};
  // The owner fields are those of the generation seen if the state has not changed since.
  if (IsAlive(owner) || Visibility::LoadOrdered(&e->state) != seen) return false;
  *state = seen;
  return true;
}

void Directory::FindDeadEntry(uint32_t* index, uint64_t* state) const {
  for (uint32_t i = 0; i < mapping_->max_services(); ++i) {
    if (IsDeadEntry(i, state) || IsAbandonedClaim(i, state)) {
      *index = i;
      return;
    }
  }
}

std::vector<ServiceRef> Directory::DeadNamesakes(const ServiceRef& live,
                                                 std::string_view name) const {
  std::vector<ServiceRef> dead;
  for (uint32_t i = 0; i < mapping_->max_services(); ++i) {
    uint64_t state;
    if (i != live.index && IsDeadEntry(i, &state) && ListedNameOf(i, state) == name) {
      dead.push_back(ServiceRef{i, GenerationOf(state)});
    }
  }
  return dead;
}

std::vector<ServiceRef> Directory::AbandonedClaims() const {
  std::vector<ServiceRef> abandoned;
  for (uint32_t i = 0; i < mapping_->max_services(); ++i) {
    uint64_t state;
    if (IsAbandonedClaim(i, &state)) abandoned.push_back(ServiceRef{i, GenerationOf(state)});
  }
  return abandoned;
}

bool Directory::Reclaim(const ServiceRef& dead,
                        const std::function<void(const ServiceRef&)>& free_orphans) {
  ServiceEntry* e = entry(dead.index);
  uint64_t state = Visibility::LoadOrdered(&e->state);
  if (GenerationOf(state) != dead.generation || StateOf(state) == ServiceState::kFree) return false;
  ServiceRef next{dead.index, dead.generation + 1};
  if (!Visibility::CompareExchange(&e->state, state,
                                   ServiceStateWord(next.generation, ServiceState::kClaimed))) {
    return false;
  }
  PublishClaim(e, next.generation);
  // Held: the fields stay as the dead process left them, and no registration can take the entry.
  free_orphans(next);
  FreeNamedBlocks(e);
  Visibility::Exchange(&e->state, ServiceStateWord(next.generation, ServiceState::kFree));
  return true;
}

void Directory::BeginClose(const ServiceRef& ref) {
  uint64_t expected = ServiceStateWord(ref.generation, ServiceState::kActive);
  Visibility::CompareExchange(&entry(ref.index)->state, expected,
                              ServiceStateWord(ref.generation, ServiceState::kClosing));
}

void Directory::Unregister(const ServiceRef& ref) {
  ServiceEntry* e = entry(ref.index);
  uint64_t state = Visibility::LoadOrdered(&e->state);
  if (GenerationOf(state) != ref.generation ||
      (StateOf(state) != ServiceState::kActive && StateOf(state) != ServiceState::kClosing)) {
    return;
  }
  // Held while its blocks are freed, as a reclaimed entry is, so that nothing is lost or freed
  // twice if this process dies meanwhile.
  uint64_t generation = ref.generation + 1;
  if (!Visibility::CompareExchange(&e->state, state,
                                   ServiceStateWord(generation, ServiceState::kClaimed))) {
    return;
  }
  PublishClaim(e, generation);
  FreeNamedBlocks(e);
  Visibility::Exchange(&e->state, ServiceStateWord(generation, ServiceState::kFree));
}

Doorbell Directory::DoorbellOf(const ServiceRef& ref) const {
  uint64_t index = entry(ref.index)->doorbell_entry.load(std::memory_order_relaxed);
  ServiceEntry* bell =
      entry(index < mapping_->max_services() ? static_cast<uint32_t>(index) : ref.index);
  return Doorbell(&bell->doorbell_sequence, &bell->doorbell_sleepers);
}

bool Directory::IsActive(const ServiceRef& ref) const {
  return mapping_->visibility().Consume(&entry(ref.index)->state) ==
         ServiceStateWord(ref.generation, ServiceState::kActive);
}

std::string Directory::NameOf(uint32_t index) const {
  std::string name;
  if (StateOf(mapping_->visibility().Consume(&entry(index)->state)) != ServiceState::kActive ||
      !ReadName(*entry(index), &name)) {
    name.clear();
  }
  return name;
}

std::string Directory::ListedNameOf(uint32_t index, uint64_t state) const {
  std::string name;
  if (!ReadName(*entry(index), &name) ||
      mapping_->visibility().Consume(&entry(index)->state) != state) {
    name.clear();
  }
  return name;
}

Status Directory::Lookup(std::string_view name, ServiceView* view) const {
  std::vector<ServiceView> views;
  Status status = LookupAll(name, &views);
  if (status.ok()) *view = std::move(views.front());
  return status;
}

Status Directory::LookupAll(std::string_view name, std::vector<ServiceView>* views) const {
  views->clear();
  if (mapping_->shortened()) return mapping_->ShortenedStatus();
  int32_t dead_pid = 0;
  for (uint32_t i = 0; i < mapping_->max_services(); ++i) {
    ServiceEntry* e = entry(i);
    uint64_t state = mapping_->visibility().Consume(&e->state);
    if (StateOf(state) != ServiceState::kActive) continue;
    std::string existing;
    if (!ReadName(*e, &existing) || existing != name) continue;
    ProcessIdentity server{static_cast<int32_t>(e->server_pid.load(std::memory_order_relaxed)),
                           e->server_token.load(std::memory_order_relaxed)};
    if (!IsAlive(server)) {
      dead_pid = server.pid;
      continue;
    }
    ServiceView view;
    if (!ReadMethods(e->methods_offset.load(std::memory_order_relaxed), &view.methods)) continue;
    // The entry may have been re-registered while we read it.
    if (mapping_->visibility().Consume(&e->state) != state) continue;
    view.ref = ServiceRef{i, GenerationOf(state)};
    views->push_back(std::move(view));
  }
  if (!views->empty()) return Status::OK;
  if (dead_pid != 0) {
    return Status(StatusCode::UNAVAILABLE, "the server of service '" + std::string(name) +
                                               "' (process " + std::to_string(dead_pid) +
                                               ") has died; restart it");
  }
  return Status(StatusCode::UNAVAILABLE,
                "service '" + std::string(name) + "' is not registered in pool " +
                    mapping_->path() + "; start its server, or check the service and pool names");
}

}  // namespace notnets::internal
