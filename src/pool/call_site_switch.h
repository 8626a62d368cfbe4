// The mutation check's switch: a test build can turn off one call site of the visibility
// primitives, so that a run shows whether some test needs it (docs/mutation-check.md).
//
// Consulted only in NOTNETS_FAULT_INJECTION builds. Two variables of the environment, read once:
//   NOTNETS_TURN_OFF_SITE=src/pool/lease.cc:53   the call at that line of that source file leaves
//       out its write-back or invalidate (Publish stores, Consume and Arrived load, WriteBack and
//       Invalidate do nothing), on pools without coherence and under the cache simulator;
//   NOTNETS_LIST_SITES=FILE   each process appends "src/pool/lease.cc:53 Publish" to FILE the
//       first time it reaches a call site.
// Sites are named by their path from the repository root; calls from outside src/ (tests) are
// never sites.
#ifndef NOTNETS_POOL_CALL_SITE_SWITCH_H_
#define NOTNETS_POOL_CALL_SITE_SWITCH_H_

#include "pool/shared_memory.h"

namespace notnets::internal {

// True if `site` is the one NOTNETS_TURN_OFF_SITE names. `primitive` names the primitive called
// there, for the list.
bool CallSiteTurnedOff(CallSite site, const char* primitive);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_CALL_SITE_SWITCH_H_
