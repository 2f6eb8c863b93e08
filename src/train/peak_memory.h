// Peak memory of this process on the device it trains on, for the epoch lines: on a GPU the most
// that LibTorch's CUDA caching allocator has held allocated for tensors (what
// torch.cuda.max_memory_allocated reports in Python); on the CPU the peak resident set size
// (getrusage's ru_maxrss: every allocation, the data set and the libraries included). Both are
// peaks over the process's life so far, never reset.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace vit {

int64_t peak_memory_bytes(const torch::Device& device);

}  // namespace vit
