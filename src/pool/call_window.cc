#include "pool/call_window.h"

#include <cstring>

#include "pool/process_identity.h"

namespace notnets::internal {

namespace {

using State = CallWindow::State;

State StateOf(uint64_t word) { return static_cast<State>(word & 0xff); }
uint64_t StateWord(int32_t pid, uint64_t code, State state) {
  return uint64_t{static_cast<uint32_t>(pid)} << 16 | (code & 0xff) << 8 |
         static_cast<uint8_t>(state);
}
ProcessIdentity RunnerOf(const CallWindowSlot& slot, uint64_t state) {
  return ProcessIdentity{static_cast<int32_t>(state >> 16),
                         slot.runner_token.load(std::memory_order_relaxed)};
}

// Spreads tokens (random already, but not always) over the slots.
uint64_t Mix(uint64_t token) {
  token ^= token >> 33;
  token *= 0xff51afd7ed558ccdull;
  token ^= token >> 33;
  return token;
}

}  // namespace

CallWindow::CallWindow(PoolMapping* mapping, Allocator* allocator)
    : mapping_(mapping), allocator_(allocator), slots_(mapping->call_window_slots()) {}

CallWindowSlot* CallWindow::slot(uint32_t index) const {
  return mapping_->At<CallWindowSlot>(mapping_->call_window_offset() +
                                      uint64_t{index} * sizeof(CallWindowSlot));
}

bool CallWindow::ReadResult(CallWindowSlot* s, uint64_t state, Entry* entry) const {
  uint64_t code = (state >> 8) & 0xff;
  uint64_t length = s->response_length.load(std::memory_order_relaxed);
  uint64_t block = s->response_block.load(std::memory_order_relaxed);
  if (code == kResultLost || !IsValidStatusCode(static_cast<int>(code))) return false;
  if (block == 0) {
    if (length > kCallWindowInlineBytes) return false;
    char bytes[kCallWindowInlineBytes];
    for (size_t i = 0; i < kCallWindowInlineBytes / 8; ++i) {
      uint64_t word = s->inline_words[i].load(std::memory_order_relaxed);
      std::memcpy(bytes + i * 8, &word, 8);
    }
    entry->response.assign(bytes, length);
  } else {
    uint64_t capacity = 0;
    if (allocator_->ValidBlock(block, &capacity) == nullptr || length > capacity) return false;
    const uint8_t* payload = mapping_->At<uint8_t>(block + kBlockHeaderBytes);
    mapping_->visibility().Invalidate(payload, length);
    entry->response.assign(reinterpret_cast<const char*>(payload), length);
  }
  entry->code = static_cast<StatusCode>(code);
  return true;
}

CallWindow::Entry CallWindow::Begin(uint64_t token) {
  const Visibility& visibility = mapping_->visibility();
  uint64_t home = Mix(token) % slots_;
  Entry entry;
  for (uint32_t probe = 0; probe < kProbes; ++probe) {
    CallWindowSlot* s = slot(static_cast<uint32_t>((home + probe) % slots_));
    uint64_t state = visibility.Consume(&s->state);
    if (s->token.load(std::memory_order_relaxed) != token || StateOf(state) == State::kEmpty) {
      continue;
    }
    entry.pid = static_cast<int32_t>(state >> 16);
    if (StateOf(state) == State::kDone) {
      // Read, then check nothing changed meanwhile (another server may be evicting the slot).
      bool read = ReadResult(s, state, &entry);
      if (visibility.Consume(&s->state) == state &&
          s->token.load(std::memory_order_relaxed) == token) {
        entry.kind = read ? Entry::kDone : Entry::kInterrupted;
        return entry;
      }
      entry.kind = Entry::kRunning;
      return entry;
    }
    bool alive = StateOf(state) == State::kChanging || IsAlive(RunnerOf(*s, state));
    entry.kind = alive ? Entry::kRunning : Entry::kInterrupted;
    return entry;
  }
  ProcessIdentity self = SelfIdentity();
  // An empty slot first: a recorded call is forgotten only when every probed slot is taken, since
  // its retry would run again.
  for (bool evict : {false, true}) {
    for (uint32_t probe = 0; probe < kProbes; ++probe) {
      uint32_t index = static_cast<uint32_t>((home + probe) % slots_);
      CallWindowSlot* s = slot(index);
      uint64_t state = visibility.Consume(&s->state);
      bool evictable =
          StateOf(state) == State::kEmpty ||
          (evict && (StateOf(state) == State::kDone ||
                     (StateOf(state) == State::kRunning && !IsAlive(RunnerOf(*s, state)))));
      if (!evictable || !Visibility::CompareExchange(&s->state, state,
                                                     StateWord(self.pid, 0, State::kChanging))) {
        continue;
      }
      FreeResponse(s);
      s->token.store(token, std::memory_order_relaxed);
      s->runner_token.store(self.token, std::memory_order_relaxed);
      visibility.Publish(&s->state, StateWord(self.pid, 0, State::kRunning));
      entry.kind = Entry::kFresh;
      entry.slot = index;
      return entry;
    }
  }
  entry.kind = Entry::kFull;
  return entry;
}

void CallWindow::FreeResponse(CallWindowSlot* s) {
  uint64_t block = Visibility::Exchange(&s->response_block, 0);
  BlockHeader* header = block != 0 ? allocator_->ValidBlock(block) : nullptr;
  if (header != nullptr && header->ownership.load(std::memory_order_relaxed) ==
                               BlockOwnership(kWindowOwner, BlockState::kOwned)) {
    allocator_->Free(block);
  }
  s->response_length.store(0, std::memory_order_relaxed);
}

void CallWindow::Finish(uint32_t index, uint64_t token, StatusCode code,
                        std::string_view response) {
  CallWindowSlot* s = slot(index);
  ProcessIdentity self = SelfIdentity();
  if (s->token.load(std::memory_order_relaxed) != token) return;  // evicted as if dead: gone
  uint64_t recorded = static_cast<uint64_t>(code);
  if (response.size() <= kCallWindowInlineBytes) {
    char bytes[kCallWindowInlineBytes] = {};
    if (!response.empty()) std::memcpy(bytes, response.data(), response.size());
    for (size_t i = 0; i < kCallWindowInlineBytes / 8; ++i) {
      uint64_t word;
      std::memcpy(&word, bytes + i * 8, 8);
      s->inline_words[i].store(word, std::memory_order_relaxed);
    }
  } else {
    uint64_t block;
    if (allocator_->Allocate(response.size(), kWindowOwner, &block).ok()) {
      uint8_t* payload = mapping_->At<uint8_t>(block + kBlockHeaderBytes);
      std::memcpy(payload, response.data(), response.size());
      mapping_->visibility().WriteBack(payload, response.size());
      s->response_block.store(block, std::memory_order_relaxed);
    } else {
      recorded = kResultLost;
    }
  }
  s->response_length.store(response.size(), std::memory_order_relaxed);
  mapping_->visibility().Publish(&s->state, StateWord(self.pid, recorded, State::kDone));
}

}  // namespace notnets::internal
