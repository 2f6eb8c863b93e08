// vit-train-faults' faults, from its environment: VIT_TEST_DRIFT_RANK=R makes rank R's replica
// drift by 1e-6 after it is built (dist.debug must stop the job); VIT_TEST_CHECKPOINT_DELAY_MS=N
// pauses every checkpoint write for N ms (a test kills a rank in the middle of one).
#include <cstdlib>

#include "util/fault_injection.h"

namespace vit {
namespace {

InjectedFaults from_environment() {
  InjectedFaults faults;
  if (const char* rank = std::getenv("VIT_TEST_DRIFT_RANK")) faults.drift_rank = std::atoi(rank);
  if (const char* ms = std::getenv("VIT_TEST_CHECKPOINT_DELAY_MS")) {
    faults.checkpoint_pause = std::chrono::milliseconds(std::atol(ms));
  }
  return faults;
}

}  // namespace

const InjectedFaults& injected_faults() {
  static const InjectedFaults faults = from_environment();
  return faults;
}

}  // namespace vit
