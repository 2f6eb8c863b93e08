// Faults that a test build of vit-train injects, to see how a job copes with them. The programs
// link fault_injection.cpp, which injects none; the tests' build (tests/tools/injected_faults.cpp,
// linked into build/tests/vit-train-faults) reads them from its environment. Production code asks
// here, never reads a test's environment itself.
#pragma once

#include <chrono>
#include <string>

namespace vit {

struct InjectedFaults {
  int drift_rank = -1;                            // this rank's replica drifts once (dist.debug)
  std::chrono::milliseconds checkpoint_pause{0};  // a pause inside each checkpoint write
  std::string sample_trace;  // PREFIX: each rank appends its steps' sample indices to PREFIX.RANK
};

const InjectedFaults& injected_faults();

}  // namespace vit
