// Removes the names of segments whose creator died before it could remove them itself.
//
// A connection's two segments lose their names once both sides have mapped them (each side
// unlinks its own); until then, and for connections never accepted, only the name keeps a
// segment's memory, and a creator killed in that window cannot remove it. Its name says who
// created it (Segment::CreatorOf), so any process that maps the pool can tell, as it tells
// whether a peer lives (IsAlive), and remove it. /dev/shm is sticky: only the creator's user
// (or root) can; a file of a user with no process left on the pool stays until one comes back
// or an operator removes it (docs/security.md).
#ifndef NOTNETS_POOL_SEGMENT_SWEEP_H_
#define NOTNETS_POOL_SEGMENT_SWEEP_H_

#include <cstdint>
#include <functional>
#include <string>

namespace notnets::internal {

// Unlinks every segment of the pool at `pool_path` whose creator is known to be dead, and that
// this process's user may remove; returns how many. For a process that maps that pool (its
// lease table and liveness locks decide who is dead). Removing a name a live peer still has to
// open costs only that connection, whose creator is dead anyway.
int RemoveSegmentsOfDeadCreators(const std::string& pool_path);

// As above, where `alive` says whether the process of a token lives: for Pool::Remove, which asks
// the kernel about the pool file it is removing and maps no pool.
int RemoveSegmentsOfDeadCreators(const std::string& pool_path,
                                 const std::function<bool(uint64_t token)>& alive);

}  // namespace notnets::internal

#endif  // NOTNETS_POOL_SEGMENT_SWEEP_H_
