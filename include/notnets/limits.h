// Sizes of the wire format that an application can rely on.
#ifndef NOTNETS_LIMITS_H_
#define NOTNETS_LIMITS_H_

#include <cstddef>

namespace notnets {

// A message (request or response) of at most this many bytes travels inside the call's
// descriptor, with no pool buffer to allocate or free: a copy of it costs no more than its
// bytes. Larger messages go through a pool buffer.
inline constexpr size_t kInlineMessageBytes = 24;

}  // namespace notnets

#endif  // NOTNETS_LIMITS_H_
