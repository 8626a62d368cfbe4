// Reading a heap block that others may be writing at that moment.
#ifndef NOTNETS_CHANNEL_LOAD_WHILE_OTHERS_WRITE_H_
#define NOTNETS_CHANNEL_LOAD_WHILE_OTHERS_WRITE_H_

namespace notnets::internal {

// Loads `field` once, whole, from a block that another process, or another thread of this one,
// may be writing (a walk over the heap meets blocks freed and reused since their ownership was
// read): the caller judges whatever value it returns before using it. The writer's plain stores
// cannot be ordered with this read, so ThreadSanitizer, which sees only this process's threads,
// is told not to instrument it.
template <typename T>
__attribute__((no_sanitize("thread"))) T LoadWhileOthersWrite(const T& field) {
  return __atomic_load_n(&field, __ATOMIC_RELAXED);
}

}  // namespace notnets::internal

#endif  // NOTNETS_CHANNEL_LOAD_WHILE_OTHERS_WRITE_H_
