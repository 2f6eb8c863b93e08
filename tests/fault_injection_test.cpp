#include "util/fault_injection.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace vit {
namespace {

// The programs' build injects nothing, whatever a test's variables say in its environment.
TEST(FaultInjectionTest, TheProgramsInjectNoFaultEvenWhenTheEnvironmentAsks) {
  ::setenv("VIT_TEST_DRIFT_RANK", "0", 1);
  ::setenv("VIT_TEST_CHECKPOINT_DELAY_MS", "5000", 1);
  EXPECT_EQ(injected_faults().drift_rank, -1);
  EXPECT_EQ(injected_faults().checkpoint_pause.count(), 0);
}

}  // namespace
}  // namespace vit
