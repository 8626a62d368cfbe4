// A test's stand-in for the cross-process visibility primitives of pools without cache coherence.
//
// On coherent hardware a missing write-back or invalidate changes nothing a test can see, so a
// test sets a recorder that takes the place of the kWriteBackInvalidate halves of Publish,
// Consume, WriteBack and Invalidate (shared_memory.h) and checks them against a model of memory
// without coherence. Compiled in only with NOTNETS_FAULT_INJECTION (the test builds); elsewhere
// SetVisibilityRecorder does nothing and the primitives cost what they always did.
#ifndef NOTNETS_POOL_VISIBILITY_RECORDER_H_
#define NOTNETS_POOL_VISIBILITY_RECORDER_H_

#include <cstddef>
#include <cstdint>

#include "pool/shared_memory.h"

namespace notnets::internal {

class VisibilityRecorder {
 public:
  virtual ~VisibilityRecorder() = default;

  // Each stands in for the primitive of the same name on a pool in kWriteBackInvalidate mode, and
  // must do what it promises in this process (store, load). Called from any thread.
  virtual void Publish(SharedWord* word, uint64_t value) = 0;
  virtual uint64_t Consume(const SharedWord* word) = 0;
  virtual void WriteBack(const void* data, size_t size) = 0;
  virtual void Invalidate(const void* data, size_t size) = 0;
};

// Makes `recorder` (nullptr: none) stand in for the primitives from now on, for every pool of
// this process. False if this build has no recorder hook (built without NOTNETS_FAULT_INJECTION).
// The recorder must outlive every call that may use it: clear it while nothing runs.
bool SetVisibilityRecorder(VisibilityRecorder* recorder);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_VISIBILITY_RECORDER_H_
