// peak_memory_bytes on the CPU: the process's peak resident set, which an allocation that is
// touched raises, and which never goes down when it is freed.
#include "train/peak_memory.h"

#include <gtest/gtest.h>

#include <vector>

namespace vit {
namespace {

TEST(PeakMemory, TheCpuPeakCountsTouchedMemoryAndStays) {
  const int64_t before = peak_memory_bytes(torch::kCPU);
  EXPECT_GT(before, 0);
  constexpr int64_t kBytes = int64_t{256} << 20;
  {
    std::vector<char> block(static_cast<size_t>(kBytes), 1);  // written: resident
    EXPECT_EQ(block[static_cast<size_t>(kBytes) - 1], 1);
  }
  const int64_t after = peak_memory_bytes(torch::kCPU);
  EXPECT_GE(after, kBytes);  // the peak holds the block after it was freed
  EXPECT_GE(after, before);
}

}  // namespace
}  // namespace vit
