#include "rpc/call_slot_table.h"

namespace notnets::internal {

CallSlotTable::CallSlotTable(uint32_t capacity)
    : slots_(new CallSlot[capacity]), capacity_(capacity) {
  // Pushed from the top down, so that slot 0 is taken first.
  for (uint32_t i = capacity_; i > 0; --i) Release(i - 1);
}

}  // namespace notnets::internal
