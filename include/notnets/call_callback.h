// The callback of an asynchronous call, stored without allocating.
#ifndef NOTNETS_CALL_CALLBACK_H_
#define NOTNETS_CALL_CALLBACK_H_

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#include "notnets/message.h"
#include "notnets/status.h"

namespace notnets {

// The result of an asynchronous call.
struct CallResult {
  Status status;             // as Channel::Call would have returned it
  ReceivedMessage response;  // the response message, read in place in the pool
};

// Any callable taking a CallResult, held like std::function but move-only and with room for
// kInlineBytes of captures inside: a lambda that captures up to that much (and moves without
// throwing) costs no allocation, where std::function allocates past 16 bytes. Larger callables
// go to the heap. Construction is explicit, so that passing a lambda to Channel::CallAsync keeps
// choosing the std::function overloads; wrap it to choose these:
//
//   channel->CallAsync("Echo", request, &context, CallCallback([&](CallResult result) { ... }));
class CallCallback {
 public:
  static constexpr size_t kInlineBytes = 64;

  CallCallback() = default;
  template <
      typename Callable,
      typename = std::enable_if_t<!std::is_same_v<std::decay_t<Callable>, CallCallback> &&
                                  std::is_invocable_r_v<void, std::decay_t<Callable>&, CallResult>>>
  explicit CallCallback(Callable&& callable) {
    using Stored = std::decay_t<Callable>;
    if constexpr (FitsInline<Stored>()) {
      ::new (static_cast<void*>(storage_)) Stored(std::forward<Callable>(callable));
      ops_ = &kInlineOps<Stored>;
    } else {
      ::new (static_cast<void*>(storage_)) Stored*(new Stored(std::forward<Callable>(callable)));
      ops_ = &kHeapOps<Stored>;
    }
  }
  CallCallback(CallCallback&& other) noexcept { MoveFrom(&other); }
  CallCallback& operator=(CallCallback&& other) noexcept {
    if (this != &other) {
      Reset();
      MoveFrom(&other);
    }
    return *this;
  }
  CallCallback(const CallCallback&) = delete;
  CallCallback& operator=(const CallCallback&) = delete;
  ~CallCallback() { Reset(); }

  // True if it holds a callable.
  explicit operator bool() const { return ops_ != nullptr; }
  // Runs the callable; it must hold one.
  void operator()(CallResult&& result) { ops_->invoke(storage_, std::move(result)); }

 private:
  struct Ops {
    void (*invoke)(void* storage, CallResult&& result);
    // Moves the callable from `from` into the empty `to` and destroys what is left in `from`.
    void (*relocate)(void* from, void* to);
    void (*destroy)(void* storage);
  };

  template <typename Stored>
  static constexpr bool FitsInline() {
    return sizeof(Stored) <= kInlineBytes && alignof(Stored) <= alignof(std::max_align_t) &&
           std::is_nothrow_move_constructible_v<Stored>;
  }
  template <typename Stored>
  static Stored* Inline(void* storage) {
    return std::launder(static_cast<Stored*>(storage));
  }
  template <typename Stored>
  static Stored* Heap(void* storage) {
    return *std::launder(static_cast<Stored**>(storage));
  }

  template <typename Stored>
  static constexpr Ops kInlineOps = {
      [](void* storage, CallResult&& result) { (*Inline<Stored>(storage))(std::move(result)); },
      [](void* from, void* to) {
        ::new (to) Stored(std::move(*Inline<Stored>(from)));
        Inline<Stored>(from)->~Stored();
      },
      [](void* storage) { Inline<Stored>(storage)->~Stored(); }};
  template <typename Stored>
  static constexpr Ops kHeapOps = {
      [](void* storage, CallResult&& result) { (*Heap<Stored>(storage))(std::move(result)); },
      [](void* from, void* to) { ::new (to) Stored*(Heap<Stored>(from)); },
      [](void* storage) { delete Heap<Stored>(storage); }};

  void MoveFrom(CallCallback* other) {
    ops_ = std::exchange(other->ops_, nullptr);
    if (ops_ != nullptr) ops_->relocate(other->storage_, storage_);
  }
  void Reset() {
    if (ops_ != nullptr) std::exchange(ops_, nullptr)->destroy(storage_);
  }

  alignas(std::max_align_t) unsigned char storage_[kInlineBytes];
  const Ops* ops_ = nullptr;
};

}  // namespace notnets

#endif  // NOTNETS_CALL_CALLBACK_H_
