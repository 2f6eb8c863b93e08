// How the row-wise CPU kernels (fused_gelu, fused_layer_norm) split their rows over LibTorch's
// intra-op threads, and how they add up per-chunk column sums (bias, scale and shift gradients):
// the chunks are fixed by the row count and summed in chunk order, in double, so the result does
// not depend on the number of threads.
#pragma once

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace vit {

constexpr int64_t kChunkRows = 256;

inline int64_t chunks_of(int64_t rows) { return (rows + kChunkRows - 1) / kChunkRows; }

// fn(chunk, first_row, row_count) for every chunk of `rows`, in parallel.
template <typename Fn>
void for_each_chunk(int64_t rows, const Fn& fn) {
  at::parallel_for(0, chunks_of(rows), /*grain_size=*/1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t first = k * kChunkRows;
      fn(k, first, std::min(kChunkRows, rows - first));
    }
  });
}

// The per-chunk partial sums (chunks_of(rows) x cols floats) added up in chunk order.
inline torch::Tensor sum_chunks(const std::vector<float>& partial, int64_t cols,
                                const torch::TensorOptions& options) {
  const int64_t chunks = static_cast<int64_t>(partial.size()) / cols;
  std::vector<double> total(static_cast<size_t>(cols), 0.0);
  for (int64_t k = 0; k < chunks; ++k) {
    for (int64_t c = 0; c < cols; ++c) {
      total[static_cast<size_t>(c)] += partial[static_cast<size_t>(k * cols + c)];
    }
  }
  auto out = torch::empty({cols}, options);
  float* p = out.data_ptr<float>();
  for (int64_t c = 0; c < cols; ++c) p[c] = static_cast<float>(total[static_cast<size_t>(c)]);
  return out;
}

}  // namespace vit
