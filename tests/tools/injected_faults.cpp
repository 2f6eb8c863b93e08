// vit-train-faults' faults, from its environment: VIT_TEST_DRIFT_RANK=R makes rank R's replica
// drift by 1e-6 after it is built (dist.debug must stop the job); VIT_TEST_CHECKPOINT_DELAY_MS=N
// pauses every checkpoint write for N ms (a test kills a rank in the middle of one);
// VIT_TEST_SAMPLE_TRACE=PREFIX makes each rank append a line per step to PREFIX.RANK: "epoch step
// world_size rank" and the indices of the samples it trained (a test checks by content that a
// restarted job trained every sample of an epoch once).
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
  if (const char* prefix = std::getenv("VIT_TEST_SAMPLE_TRACE")) faults.sample_trace = prefix;
  return faults;
}

}  // namespace

const InjectedFaults& injected_faults() {
  static const InjectedFaults faults = from_environment();
  return faults;
}

}  // namespace vit
