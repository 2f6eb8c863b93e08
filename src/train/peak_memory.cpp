#include "train/peak_memory.h"

#include <sys/resource.h>

#ifdef VIT_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace vit {

int64_t peak_memory_bytes(const torch::Device& device) {
#ifdef VIT_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return static_cast<int64_t>(stats.allocated_bytes[0].peak);  // [0]: all pools together
  }
#endif
  (void)device;
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux counts it in KiB
}

}  // namespace vit
