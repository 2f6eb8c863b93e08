#include "model/fused_layer_norm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "model/row_chunks.h"
#include "util/multiversion.h"

namespace vit {
namespace {

// y = (x - mean) / sqrt(var + eps) * gamma + beta for `rows` rows of `cols`; each row's mean and
// 1/std into mean[] and rstd[]. (The sums vectorise: this file is compiled with reassociation.)
// The corrected two-pass form: a first mean m0, then the sums of d = x - m0 and of d^2 give the
// mean m0 + sum(d)/n and the variance (sum(d^2) - sum(d)^2/n)/n. The correction removes the
// first sum's rounding, which for rows far from zero (values near 1000 spread by 0.01) is as
// large as the spread itself when the floats are added one by one (unvectorised builds).
VIT_MULTIVERSION void norm_rows(const float* x, const float* gamma, const float* beta, float eps,
                                float* y, float* mean, float* rstd, int64_t rows, int64_t cols) {
  const float inv_cols = 1.0f / static_cast<float>(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float sum = 0.0f;
    for (int64_t c = 0; c < cols; ++c) sum += xr[c];
    const float m0 = sum * inv_cols;
    float shift = 0.0f, squares = 0.0f;
    for (int64_t c = 0; c < cols; ++c) {
      const float d = xr[c] - m0;
      shift += d;
      squares += d * d;
    }
    const float m = m0 + shift * inv_cols;
    const float var = std::max((squares - shift * shift * inv_cols) * inv_cols, 0.0f);
    const float s = 1.0f / std::sqrt(var + eps);
    for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - m) * s * gamma[c] + beta[c];
    mean[r] = m;
    rstd[r] = s;
  }
}

// dx for a chunk, and its shares of the gradients of gamma (sum of g * xhat) and beta (sum of g).
// With xhat = (x - mean) * rstd and gx = g * gamma:
// dx = rstd * (gx - mean_c(gx) - xhat * mean_c(gx * xhat)).
VIT_MULTIVERSION void norm_backward_rows(const float* g, const float* x, const float* gamma,
                                         const float* mean, const float* rstd, float* dx,
                                         float* dgamma, float* dbeta, int64_t rows,
                                         int64_t cols) {
  const float inv_cols = 1.0f / static_cast<float>(cols);
  for (int64_t c = 0; c < cols; ++c) dgamma[c] = dbeta[c] = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const float* gr = g + r * cols;
    const float* xr = x + r * cols;
    float* out = dx + r * cols;
    const float m = mean[r], s = rstd[r];
    float sum_gx = 0.0f, sum_gx_xhat = 0.0f;
    for (int64_t c = 0; c < cols; ++c) {
      const float xhat = (xr[c] - m) * s;
      const float gx = gr[c] * gamma[c];
      sum_gx += gx;
      sum_gx_xhat += gx * xhat;
      dgamma[c] += gr[c] * xhat;
      dbeta[c] += gr[c];
    }
    const float a = sum_gx * inv_cols, b = sum_gx_xhat * inv_cols;
    for (int64_t c = 0; c < cols; ++c) {
      const float xhat = (xr[c] - m) * s;
      out[c] = s * (gr[c] * gamma[c] - a - xhat * b);
    }
  }
}

class LayerNormFunction : public torch::autograd::Function<LayerNormFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& gamma_in, const torch::Tensor& beta_in,
                               double eps) {
    const torch::Tensor x = x_in.contiguous();
    const torch::Tensor gamma = gamma_in.contiguous();
    const torch::Tensor beta = beta_in.contiguous();
    const int64_t cols = x.size(-1), rows = x.numel() / cols;
    auto y = torch::empty_like(x);
    auto stats = torch::empty({2, rows}, x.options());  // mean, 1/std
    const float* xp = x.data_ptr<float>();
    const float* gp = gamma.data_ptr<float>();
    const float* bp = beta.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    float* mean = stats.data_ptr<float>();
    float* rstd = mean + rows;
    const auto e = static_cast<float>(eps);
    for_each_chunk(rows, [&](int64_t, int64_t first, int64_t count) {
      norm_rows(xp + first * cols, gp, bp, e, yp + first * cols, mean + first, rstd + first, count,
                cols);
    });
    ctx->save_for_backward({x, gamma});
    ctx->saved_data["stats"] = stats;
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& gamma = saved[1];
    const torch::Tensor stats = ctx->saved_data["stats"].toTensor();
    const torch::Tensor g = grads[0].contiguous();
    const int64_t cols = x.size(-1), rows = x.numel() / cols, chunks = chunks_of(rows);
    auto dx = torch::empty_like(x);
    std::vector<float> dgamma(static_cast<size_t>(chunks * cols));
    std::vector<float> dbeta(static_cast<size_t>(chunks * cols));
    const float* gp = g.data_ptr<float>();
    const float* xp = x.data_ptr<float>();
    const float* wp = gamma.data_ptr<float>();
    const float* mean = stats.data_ptr<float>();
    const float* rstd = mean + rows;
    float* out = dx.data_ptr<float>();
    for_each_chunk(rows, [&](int64_t k, int64_t first, int64_t count) {
      norm_backward_rows(gp + first * cols, xp + first * cols, wp, mean + first, rstd + first,
                         out + first * cols, dgamma.data() + k * cols, dbeta.data() + k * cols,
                         count, cols);
    });
    return {dx, sum_chunks(dgamma, cols, x.options()), sum_chunks(dbeta, cols, x.options()),
            torch::Tensor()};
  }
};

}  // namespace

bool use_fused_layer_norm(const torch::Tensor& x, const torch::nn::LayerNorm& norm) {
  const auto& options = norm->options;
  return x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.dim() >= 1 &&
         x.numel() > 0 && options.normalized_shape().size() == 1 &&
         options.normalized_shape()[0] == x.size(-1) && options.elementwise_affine() &&
         norm->weight.scalar_type() == torch::kFloat32 && norm->weight.device().is_cpu();
}

torch::Tensor layer_norm(const torch::Tensor& x, const torch::nn::LayerNorm& norm) {
  if (!use_fused_layer_norm(x, norm)) return norm.ptr()->forward(x);
  return LayerNormFunction::apply(x, norm->weight, norm->bias, norm->options.eps());
}

}  // namespace vit
