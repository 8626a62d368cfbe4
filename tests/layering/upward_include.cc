// Compiled against one layer's include path by the Layering.* tests, which expect it not to build:
// the layer's own header must be found, the header of a layer above it must not be.
#include NOTNETS_OWN_HEADER
#include NOTNETS_UPWARD_HEADER
