// Step 3: the fixed sine/cosine position table of the tutorial (not a learned parameter).
#pragma once

#include <torch/torch.h>

namespace vit {

// (sequence_length, d): entry (i, j) = sin(i / 10000^(j/d)) for even j and
// cos(i / 10000^((j-1)/d)) for odd j.
torch::Tensor sincos_positions(int64_t sequence_length, int64_t d);

}  // namespace vit
