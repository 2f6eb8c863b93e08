#include "util/fault_injection.h"

namespace vit {

// The programs' faults: none. (Not part of vit_core, so a test build can link its own.)
const InjectedFaults& injected_faults() {
  static const InjectedFaults none;
  return none;
}

}  // namespace vit
