// Metadata carried with a call: request headers, response initial metadata and trailers.
#ifndef NOTNETS_METADATA_H_
#define NOTNETS_METADATA_H_

#include <map>
#include <string>

namespace notnets {

// Keys are lower-case ASCII as in gRPC; a key ending in "-bin" carries arbitrary bytes.
using Metadata = std::multimap<std::string, std::string>;

}  // namespace notnets

#endif  // NOTNETS_METADATA_H_
