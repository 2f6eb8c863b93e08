#include "model/fused_gelu.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "model/row_chunks.h"
#include "model/vector_math.h"
#include "util/error.h"
#include "util/multiversion.h"

namespace vit {
namespace {

// y = gelu(x) and d = gelu'(x) for x = h + bias, a chunk of `rows` rows of `cols` columns.
// gelu(x) = x Phi(x), gelu'(x) = Phi(x) + x phi(x), with phi(x) = exp(-x^2/2) / sqrt(2 pi) and
// Phi(-|x|) = erfc(|x| / sqrt 2) / 2 = poly(t) exp(-x^2/2) / 2, t = 1 / (1 + p |x| / sqrt 2).
VIT_MULTIVERSION_WIDE void gelu_forward_rows(const float* h, const float* bias, float* y, float* d,
                                             int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* hr = h + r * cols;
    float* yr = y + r * cols;
    float* dr = d + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const float x = hr[c] + bias[c];
      const float e = exp_nonpositive(-0.5f * x * x);
      const float t = 1.0f / (1.0f + 0.3275911f * 0.70710678118654752f * std::fabs(x));
      float p = 1.061405429f;
      p = p * t - 1.453152027f;
      p = p * t + 1.421413741f;
      p = p * t - 0.284496736f;
      p = p * t + 0.254829592f;
      const float tail = 0.5f * p * t * e;  // Phi(-|x|)
      const float cdf = x >= 0.0f ? 1.0f - tail : tail;
      yr[c] = x * cdf;
      dr[c] = cdf + x * 0.39894228040143268f * e;
    }
  }
}

// dh = g * d for a chunk, and the chunk's column sums of dh (the bias gradient's share).
VIT_MULTIVERSION void gelu_backward_rows(const float* g, const float* d, float* dh, float* sums,
                                         int64_t rows, int64_t cols) {
  for (int64_t c = 0; c < cols; ++c) sums[c] = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const float* gr = g + r * cols;
    const float* dr = d + r * cols;
    float* out = dh + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const float v = gr[c] * dr[c];
      out[c] = v;
      sums[c] += v;
    }
  }
}

class BiasGeluFunction : public torch::autograd::Function<BiasGeluFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& h_in,
                               const torch::Tensor& bias_in) {
    const torch::Tensor h = h_in.contiguous();
    const torch::Tensor bias = bias_in.contiguous();
    const int64_t cols = h.size(-1), rows = h.numel() / cols;
    auto y = torch::empty_like(h);
    auto d = torch::empty_like(h);
    const float* hp = h.data_ptr<float>();
    const float* bp = bias.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    float* dp = d.data_ptr<float>();
    for_each_chunk(rows, [&](int64_t, int64_t first, int64_t count) {
      gelu_forward_rows(hp + first * cols, bp, yp + first * cols, dp + first * cols, count, cols);
    });
    ctx->saved_data["derivative"] = d;
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const torch::Tensor d = ctx->saved_data["derivative"].toTensor();
    const torch::Tensor g = grads[0].contiguous();
    const int64_t cols = d.size(-1), rows = d.numel() / cols;
    auto dh = torch::empty_like(d);
    std::vector<float> partial(static_cast<size_t>(chunks_of(rows) * cols));
    const float* gp = g.data_ptr<float>();
    const float* dp = d.data_ptr<float>();
    float* out = dh.data_ptr<float>();
    for_each_chunk(rows, [&](int64_t k, int64_t first, int64_t count) {
      gelu_backward_rows(gp + first * cols, dp + first * cols, out + first * cols,
                         partial.data() + k * cols, count, cols);
    });
    return {dh, sum_chunks(partial, cols, d.options())};
  }
};

}  // namespace

bool use_fused_gelu(const torch::Tensor& h) {
  return h.device().is_cpu() && h.scalar_type() == torch::kFloat32 && h.dim() >= 1 &&
         h.numel() > 0;
}

torch::Tensor bias_gelu(const torch::Tensor& h, const torch::Tensor& bias) {
  VIT_CHECK(bias.dim() == 1 && h.dim() >= 1 && h.size(-1) == bias.size(0), "bias_gelu: a bias of ",
            bias.sizes(), " for inputs of ", h.sizes());
  if (!use_fused_gelu(h) || bias.scalar_type() != h.scalar_type() || !bias.device().is_cpu())
    return torch::gelu(h + bias);
  return BiasGeluFunction::apply(h, bias);
}

}  // namespace vit
