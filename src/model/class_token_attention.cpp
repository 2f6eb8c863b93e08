#include "model/class_token_attention.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "model/linear.h"
#include "model/vector_math.h"
#include "train/precision.h"  // autocast_enabled
#include "util/error.h"
#include "util/multiversion.h"

namespace vit {
namespace {

// N images of T tokens of width D, in H heads of hd columns.
struct Shape {
  int64_t images, tokens, dim, heads, head_dim;
};

constexpr int64_t kImagesPerTask = 8;  // at least, per intra-op thread

// One image: q (D) and kv (T rows of 2D floats, k | v) -> the softmax weights (H rows of T) and
// the merged heads' output (D).
VIT_MULTIVERSION_WIDE void attend(const float* q, const float* kv, const Shape& s, float scale,
                                  float* weights, float* out) {
  const int64_t T = s.tokens, D = s.dim, hd = s.head_dim;
  for (int64_t h = 0; h < s.heads; ++h) {
    const float* qh = q + h * hd;
    float* w = weights + h * T;
    float top = -std::numeric_limits<float>::infinity();
    for (int64_t t = 0; t < T; ++t) {
      const float* k = kv + t * 2 * D + h * hd;
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int64_t d = 0; d < hd; ++d) dot += qh[d] * k[d];
      w[t] = dot * scale;
      top = std::max(top, w[t]);
    }
    float sum = 0.0f;
    for (int64_t t = 0; t < T; ++t) {
      w[t] = exp_nonpositive(w[t] - top);
      sum += w[t];
    }
    const float inv = 1.0f / sum;
    float* o = out + h * hd;
    for (int64_t d = 0; d < hd; ++d) o[d] = 0.0f;
    for (int64_t t = 0; t < T; ++t) {
      const float wt = w[t] * inv;
      w[t] = wt;
      const float* v = kv + t * 2 * D + D + h * hd;
      for (int64_t d = 0; d < hd; ++d) o[d] += wt * v[d];
    }
  }
}

// Its backward pass for the output gradient g (D): dq (D) and dkv (T rows of 2D, dk | dv).
// With s_t = scale q.k_t and w = softmax(s): dv_t = w_t g, dw_t = g.v_t,
// ds_t = w_t (dw_t - sum_u w_u dw_u), dq = scale sum_t ds_t k_t, dk_t = scale ds_t q.
// `dw` is scratch for T floats.
VIT_MULTIVERSION_WIDE void attend_backward(const float* q, const float* kv, const float* weights,
                                           const float* g, const Shape& s, float scale, float* dq,
                                           float* dkv, float* dw) {
  const int64_t T = s.tokens, D = s.dim, hd = s.head_dim;
  for (int64_t h = 0; h < s.heads; ++h) {
    const float* w = weights + h * T;
    const float* gh = g + h * hd;
    float mean = 0.0f;  // sum_u w_u dw_u
    for (int64_t t = 0; t < T; ++t) {
      const float* v = kv + t * 2 * D + D + h * hd;
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int64_t d = 0; d < hd; ++d) dot += gh[d] * v[d];
      dw[t] = dot;
      mean += w[t] * dot;
    }
    const float* qh = q + h * hd;
    float* dqh = dq + h * hd;
    for (int64_t d = 0; d < hd; ++d) dqh[d] = 0.0f;
    for (int64_t t = 0; t < T; ++t) {
      const float ds = scale * w[t] * (dw[t] - mean), wt = w[t];
      const float* k = kv + t * 2 * D + h * hd;
      float* dk = dkv + t * 2 * D + h * hd;
      float* dv = dk + D;
      for (int64_t d = 0; d < hd; ++d) dqh[d] += ds * k[d];
      for (int64_t d = 0; d < hd; ++d) dk[d] = ds * qh[d];
      for (int64_t d = 0; d < hd; ++d) dv[d] = wt * gh[d];
    }
  }
}

// Every row of the (rows x cols) `dst` set to `row`.
void fill_rows(float* dst, const float* row, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * cols, row, cols * sizeof(float));
}

class ClassTokenAttentionFunction : public torch::autograd::Function<ClassTokenAttentionFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x_in,
                               const torch::Tensor& weight_in, const torch::Tensor& bias_in,
                               int64_t n_heads, double scale) {
    const torch::Tensor x = x_in.contiguous();
    const torch::Tensor w = weight_in.contiguous();
    const torch::Tensor b = bias_in.contiguous();
    const Shape s{x.size(0), x.size(1), x.size(2), n_heads, x.size(2) / n_heads};
    const int64_t D = s.dim, T = s.tokens, rows = s.images * T;
    const float* xp = x.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    const float* bp = b.data_ptr<float>();
    // q from token 0's rows (T * D floats apart), k | v from every row; each adds to its bias.
    auto q = torch::empty({s.images, D}, x.options());
    auto kv = torch::empty({rows, 2 * D}, x.options());
    float* qp = q.data_ptr<float>();
    float* kvp = kv.data_ptr<float>();
    fill_rows(qp, bp, s.images, D);
    fill_rows(kvp, bp + D, rows, 2 * D);
    sgemm('N', 'T', s.images, D, D, xp, T * D, wp, D, 1.0f, qp, D);
    sgemm('N', 'T', rows, 2 * D, D, xp, D, wp + D * D, D, 1.0f, kvp, 2 * D);

    auto weights = torch::empty({s.images, s.heads, T}, x.options());
    auto out = torch::empty({s.images, D}, x.options());
    float* wtp = weights.data_ptr<float>();
    float* outp = out.data_ptr<float>();
    const float sc = static_cast<float>(scale);
    at::parallel_for(0, s.images, kImagesPerTask, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        attend(qp + i * D, kvp + i * T * 2 * D, s, sc, wtp + i * s.heads * T, outp + i * D);
      }
    });
    ctx->save_for_backward({x, w});
    ctx->saved_data["q"] = q;
    ctx->saved_data["kv"] = kv;
    ctx->saved_data["weights"] = weights;
    ctx->saved_data["heads"] = n_heads;
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& w = saved[1];
    const torch::Tensor q = ctx->saved_data["q"].toTensor();
    const torch::Tensor kv = ctx->saved_data["kv"].toTensor();
    const torch::Tensor weights = ctx->saved_data["weights"].toTensor();
    const int64_t n_heads = ctx->saved_data["heads"].toInt();
    const float scale = static_cast<float>(ctx->saved_data["scale"].toDouble());
    const Shape s{x.size(0), x.size(1), x.size(2), n_heads, x.size(2) / n_heads};
    const int64_t D = s.dim, T = s.tokens, rows = s.images * T;
    const torch::Tensor g = grads[0].contiguous();

    auto dq = torch::empty({s.images, D}, x.options());
    auto dkv = torch::empty({rows, 2 * D}, x.options());
    const float* qp = q.data_ptr<float>();
    const float* kvp = kv.data_ptr<float>();
    const float* wtp = weights.data_ptr<float>();
    const float* gp = g.data_ptr<float>();
    float* dqp = dq.data_ptr<float>();
    float* dkvp = dkv.data_ptr<float>();
    at::parallel_for(0, s.images, kImagesPerTask, [&](int64_t begin, int64_t end) {
      std::vector<float> dw(static_cast<size_t>(T));
      for (int64_t i = begin; i < end; ++i) {
        attend_backward(qp + i * D, kvp + i * T * 2 * D, wtp + i * s.heads * T, gp + i * D, s,
                        scale, dqp + i * D, dkvp + i * T * 2 * D, dw.data());
      }
    });

    const float* xp = x.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    torch::Tensor dx, dweight, dbias;
    if (ctx->needs_input_grad(0)) {
      // Every row gets dk | dv times k's and v's rows of the weight; token 0's rows dq times q's.
      dx = torch::empty({s.images, T, D}, x.options());
      float* dxp = dx.data_ptr<float>();
      sgemm('N', 'N', rows, D, 2 * D, dkvp, 2 * D, wp + D * D, D, 0.0f, dxp, D);
      sgemm('N', 'N', s.images, D, D, dqp, D, wp, D, 1.0f, dxp, T * D);
    }
    if (ctx->needs_input_grad(1)) {
      dweight = torch::empty({3 * D, D}, w.options());
      float* dwp = dweight.data_ptr<float>();
      sgemm('T', 'N', D, D, s.images, dqp, D, xp, T * D, 0.0f, dwp, D);
      sgemm('T', 'N', 2 * D, D, rows, dkvp, 2 * D, xp, D, 0.0f, dwp + D * D, D);
    }
    if (ctx->needs_input_grad(2)) dbias = torch::cat({dq.sum(0), dkv.sum(0)});
    return {dx, dweight, dbias, torch::Tensor(), torch::Tensor()};
  }
};

// The same with LibTorch's operators (GPU, autocast, the matmul choice): q, k and v through the
// projection's narrowed weight, one row of weights per head from element-wise products and sums.
torch::Tensor composite(const torch::Tensor& x, const torch::Tensor& weight,
                        const torch::Tensor& bias, int64_t n_heads, double scale) {
  const int64_t n = x.size(0), tokens = x.size(1), d = x.size(2), hd = d / n_heads;
  const auto q =
      linear(x.select(/*dim=*/1, /*index=*/0), weight.narrow(0, 0, d), bias.narrow(0, 0, d));
  const auto kv = linear(x, weight.narrow(0, d, 2 * d), bias.narrow(0, d, 2 * d));
  // Under autocast the projections are bfloat16: the products and sums run in float32 here, as a
  // matrix product accumulates, and the result returns in the projections' type.
  const auto wide = [](const torch::Tensor& t) { return t.to(torch::kFloat32); };
  const auto k = wide(kv.narrow(-1, 0, d)).view({n, tokens, n_heads, hd});
  const auto v = wide(kv.narrow(-1, d, d)).view({n, tokens, n_heads, hd});
  const auto scores = (wide(q).view({n, 1, n_heads, hd}) * k).sum(-1);
  const auto w = torch::softmax(scores * scale, /*dim=*/1);  // (N, T, heads)
  const auto out = (w.unsqueeze(-1) * v).sum(1);
  return out.reshape({n, d}).to(q.scalar_type());
}

}  // namespace

bool use_class_token_kernel(const torch::Tensor& x, const torch::Tensor& weight,
                            AttentionKernel kernel) {
  return kernel != AttentionKernel::kMatmul && x.device().is_cpu() && weight.device().is_cpu() &&
         x.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32 &&
         !autocast_enabled(torch::kCPU);
}

torch::Tensor class_token_attention(const torch::Tensor& x, const torch::Tensor& weight,
                                    const torch::Tensor& bias, int64_t n_heads, double scale,
                                    AttentionKernel kernel) {
  VIT_CHECK(x.dim() == 3 && x.size(1) > 0 && n_heads > 0 && x.size(2) % n_heads == 0,
            "attention: the class token of a batch of ", x.sizes(), " in ", n_heads, " heads");
  VIT_CHECK(weight.dim() == 2 && weight.size(0) == 3 * x.size(2) && weight.size(1) == x.size(2) &&
                bias.dim() == 1 && bias.size(0) == weight.size(0),
            "attention: a qkv weight of ", weight.sizes(), " and bias of ", bias.sizes(),
            " for tokens of width ", x.size(2));
  if (use_class_token_kernel(x, weight, kernel) && bias.device().is_cpu() &&
      bias.scalar_type() == torch::kFloat32) {
    return ClassTokenAttentionFunction::apply(x, weight, bias, n_heads, scale);
  }
  return composite(x, weight, bias, n_heads, scale);
}

}  // namespace vit
