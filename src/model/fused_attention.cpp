#include "model/fused_attention.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "util/error.h"
#include "util/multiversion.h"


namespace vit {
namespace {

std::atomic<AttentionKernel> g_kernel{AttentionKernel::kAuto};

// exp(x) for x <= 0 (softmax arguments after subtracting the row maximum), branch-free so that
// the loops around it vectorise: x = n ln2 + r with |r| <= ln2/2 (about), exp(r) by a degree-6
// polynomial (relative error about 2e-7), 2^n put into the float's exponent bits.
inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  // Round to nearest by adding and removing 1.5 * 2^23 (no library call, so it vectorises).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // n in [-126, 0] for x in [-87, 0]; a NaN x (a diverging run) leaves n NaN, which must not
  // reach the integer conversion (undefined): -127 gives 2^n = 0, and p * 0 stays NaN.
  const float n_safe = n > -127.0f ? (n < 127.0f ? n : 127.0f) : -127.0f;
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n_safe) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}

// max_j w[j], in eight lanes (GCC does not vectorise a max reduction loop, but does these).
inline float row_max(const float* w, int64_t n) {
  float lanes[8];
  std::fill_n(lanes, 8, w[0]);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    for (int l = 0; l < 8; ++l) lanes[l] = lanes[l] > w[j + l] ? lanes[l] : w[j + l];
  }
  for (; j < n; ++j) lanes[0] = lanes[0] > w[j] ? lanes[0] : w[j];
  float top = lanes[0];
  for (int l = 1; l < 8; ++l) top = top > lanes[l] ? top : lanes[l];
  return top;
}

// Where one head's q, k and v columns sit in a row of the qkv tensor, and its output columns.
struct HeadLayout {
  int64_t tokens;      // T
  int64_t head_dim;    // hd
  int64_t qkv_stride;  // 3D: floats per token in qkv
  int64_t out_stride;  // D: floats per token in the output
  int64_t q, k, v;     // column offsets of this head's q, k, v
  int64_t out;         // column offset of this head's output
  float scale;
};

// Scratch of one task, reused across the tasks of a thread's chunk.
struct Scratch {
  explicit Scratch(const HeadLayout& l)
      : q(static_cast<size_t>(l.tokens * l.head_dim)),
        kt(static_cast<size_t>(l.head_dim * l.tokens)),
        vt(static_cast<size_t>(l.head_dim * l.tokens)),
        dkt(static_cast<size_t>(l.head_dim * l.tokens)),
        dvt(static_cast<size_t>(l.head_dim * l.tokens)),
        w(static_cast<size_t>(l.tokens)),
        row(static_cast<size_t>(l.tokens)),
        row2(static_cast<size_t>(l.tokens)) {}
  std::vector<float> q, kt, vt, dkt, dvt, w, row, row2;
};

// Copies q (token-major) and k, v (transposed: head_dim rows of T) of one head of one image.
inline void load_head(const float* qkv, const HeadLayout& l, Scratch& s) {
  const int64_t T = l.tokens, hd = l.head_dim;
  for (int64_t t = 0; t < T; ++t) {
    const float* row = qkv + t * l.qkv_stride;
    for (int64_t d = 0; d < hd; ++d) {
      s.q[t * hd + d] = row[l.q + d];
      s.kt[d * T + t] = row[l.k + d];
      s.vt[d * T + t] = row[l.v + d];
    }
  }
}

// Scores of query i against every key: w[j] = scale * q_i . k_j.
inline void scores_row(const Scratch& s, const HeadLayout& l, int64_t i, float* w) {
  const int64_t T = l.tokens, hd = l.head_dim;
  const float* qi = s.q.data() + i * hd;
#pragma omp simd
  for (int64_t j = 0; j < T; ++j) w[j] = 0.0f;
  for (int64_t d = 0; d < hd; ++d) {
    const float qd = qi[d] * l.scale;
    const float* kd = s.kt.data() + d * T;
#pragma omp simd
    for (int64_t j = 0; j < T; ++j) w[j] += qd * kd[j];
  }
}

// Forward of one (image, head): the output columns, and the softmax weights (T x T), saved for
// the backward pass. Recomputing them there from a saved log-sum-exp instead was measured 16%
// slower for the whole training step (seed model, one core): the exp costs more than the
// memory traffic of storing the weights.
VIT_MULTIVERSION
void head_forward(const float* qkv, float* weights, float* out, const HeadLayout& l, Scratch& s) {
  load_head(qkv, l, s);
  const int64_t T = l.tokens, hd = l.head_dim;
  const float* vt = s.vt.data();
  float* w = s.w.data();
  for (int64_t i = 0; i < T; ++i) {
    scores_row(s, l, i, w);
    const float top = row_max(w, T);
#pragma omp simd
    for (int64_t j = 0; j < T; ++j) w[j] = exp_nonpositive(w[j] - top);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < T; ++j) sum += w[j];
    const float inv = 1.0f / sum;
    float* wi = weights + i * T;
#pragma omp simd
    for (int64_t j = 0; j < T; ++j) wi[j] = w[j] * inv;
    float* oi = out + i * l.out_stride + l.out;
    for (int64_t d = 0; d < hd; ++d) {
      const float* vd = vt + d * T;
      float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
      for (int64_t j = 0; j < T; ++j) acc += w[j] * vd[j];
      oi[d] = acc * inv;
    }
  }
}

// Backward of one (image, head): from the output gradient (rows of D) and the saved weights to
// the gradient of this head's q, k and v columns of qkv.
VIT_MULTIVERSION
void head_backward(const float* qkv, const float* weights, const float* dout, float* dqkv,
                   const HeadLayout& l, Scratch& s) {
  load_head(qkv, l, s);
  const int64_t T = l.tokens, hd = l.head_dim;
  const float* kt = s.kt.data();
  const float* vt = s.vt.data();
  float* dkt = s.dkt.data();
  float* dvt = s.dvt.data();
  float* dp = s.row.data();
  float* ds = s.row2.data();
  std::fill(s.dkt.begin(), s.dkt.end(), 0.0f);
  std::fill(s.dvt.begin(), s.dvt.end(), 0.0f);
  for (int64_t i = 0; i < T; ++i) {
    const float* w = weights + i * T;
    const float* doi = dout + i * l.out_stride + l.out;
    // dW[i, j] = dout_i . v_j
#pragma omp simd
    for (int64_t j = 0; j < T; ++j) dp[j] = 0.0f;
    for (int64_t d = 0; d < hd; ++d) {
      const float g = doi[d];
      const float* vd = vt + d * T;
      float* dvd = dvt + d * T;
#pragma omp simd
      for (int64_t j = 0; j < T; ++j) {
        dp[j] += g * vd[j];
        dvd[j] += g * w[j];  // dV[j] += W[i, j] dout_i
      }
    }
    // Softmax backward: dS = W * (dW - sum_j W dW), then times the scale for q k^T.
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < T; ++j) dot += w[j] * dp[j];
#pragma omp simd
    for (int64_t j = 0; j < T; ++j) ds[j] = w[j] * (dp[j] - dot) * l.scale;
    const float* qi = s.q.data() + i * hd;
    float* dqi = dqkv + i * l.qkv_stride + l.q;
    for (int64_t d = 0; d < hd; ++d) {
      const float* kd = kt + d * T;
      float* dkd = dkt + d * T;
      const float qd = qi[d];
      float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
      for (int64_t j = 0; j < T; ++j) {
        acc += ds[j] * kd[j];  // dq_i = sum_j dS[i, j] k_j
        dkd[j] += ds[j] * qd;  // dk_j += dS[i, j] q_i
      }
      dqi[d] = acc;
    }
  }
  for (int64_t t = 0; t < T; ++t) {
    float* row = dqkv + t * l.qkv_stride;
    for (int64_t d = 0; d < hd; ++d) {
      row[l.k + d] = dkt[d * T + t];
      row[l.v + d] = dvt[d * T + t];
    }
  }
}

HeadLayout layout_of(const torch::Tensor& qkv, int64_t n_heads, double scale, int64_t head) {
  const int64_t dim = qkv.size(2) / 3, hd = dim / n_heads;
  return {qkv.size(1), hd,         3 * dim,  dim,
          head * hd,   dim + head * hd, 2 * dim + head * hd, head * hd,
          static_cast<float>(scale)};
}

// Runs fn(image, head, scratch) for every pair on the intra-op threads.
template <typename Fn>
void for_each_head(const torch::Tensor& qkv, int64_t n_heads, double scale, const Fn& fn) {
  const int64_t pairs = qkv.size(0) * n_heads;
  at::parallel_for(0, pairs, /*grain_size=*/4, [&](int64_t begin, int64_t end) {
    Scratch scratch(layout_of(qkv, n_heads, scale, 0));
    for (int64_t p = begin; p < end; ++p) {
      const int64_t image = p / n_heads, head = p % n_heads;
      fn(image, layout_of(qkv, n_heads, scale, head), scratch);
    }
  });
}

class FusedAttentionFunction : public torch::autograd::Function<FusedAttentionFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qkv_in,
                               int64_t n_heads, double scale) {
    const torch::Tensor qkv = qkv_in.contiguous();
    const int64_t n = qkv.size(0), t = qkv.size(1), dim = qkv.size(2) / 3;
    auto out = torch::empty({n, t, dim}, qkv.options());
    auto weights = torch::empty({n, n_heads, t, t}, qkv.options());
    const float* src = qkv.data_ptr<float>();
    float* w = weights.data_ptr<float>();
    float* o = out.data_ptr<float>();
    for_each_head(qkv, n_heads, scale, [&](int64_t image, const HeadLayout& l, Scratch& s) {
      const int64_t head = l.out / l.head_dim;
      head_forward(src + image * t * 3 * dim, w + (image * n_heads + head) * t * t,
                   o + image * t * dim, l, s);
    });
    ctx->save_for_backward({qkv});
    ctx->saved_data["weights"] = weights;
    ctx->saved_data["n_heads"] = n_heads;
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const torch::Tensor qkv = ctx->get_saved_variables()[0];
    const torch::Tensor weights = ctx->saved_data["weights"].toTensor();
    const int64_t n_heads = ctx->saved_data["n_heads"].toInt();
    const double scale = ctx->saved_data["scale"].toDouble();
    const torch::Tensor dout = grads[0].contiguous();
    const int64_t t = qkv.size(1), dim = qkv.size(2) / 3;
    auto dqkv = torch::empty_like(qkv);
    const float* src = qkv.data_ptr<float>();
    const float* w = weights.data_ptr<float>();
    const float* g = dout.data_ptr<float>();
    float* dst = dqkv.data_ptr<float>();
    for_each_head(qkv, n_heads, scale, [&](int64_t image, const HeadLayout& l, Scratch& s) {
      const int64_t head = l.out / l.head_dim;
      head_backward(src + image * t * 3 * dim, w + (image * n_heads + head) * t * t,
                    g + image * t * dim, dst + image * t * 3 * dim, l, s);
    });
    return {dqkv, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

void set_attention_kernel(AttentionKernel kernel) { g_kernel = kernel; }
AttentionKernel attention_kernel() { return g_kernel; }

AttentionKernel parse_attention_kernel(const std::string& name) {
  if (name == "auto") return AttentionKernel::kAuto;
  if (name == "fused") return AttentionKernel::kFused;
  if (name == "matmul") return AttentionKernel::kMatmul;
  VIT_FAIL("train.attention: unknown kernel '", name, "' (allowed: auto, fused, matmul)");
}

bool use_fused_attention(const torch::Tensor& qkv) {
  return g_kernel != AttentionKernel::kMatmul && qkv.device().is_cpu() &&
         qkv.scalar_type() == torch::kFloat32 && qkv.dim() == 3;
}

torch::Tensor fused_attention(const torch::Tensor& qkv, int64_t n_heads, double scale) {
  VIT_CHECK(qkv.dim() == 3 && qkv.size(2) % (3 * n_heads) == 0,
            "fused attention: qkv of shape ", qkv.sizes(), " does not split into q, k, v of ",
            n_heads, " heads");
  return FusedAttentionFunction::apply(qkv, n_heads, scale);
}

torch::Tensor matmul_attention(const torch::Tensor& qkv, int64_t n_heads, double scale) {
  const int64_t n = qkv.size(0), t = qkv.size(1), d = qkv.size(2) / 3;
  // (N, T, 3D) -> (3, N, heads, T, head_dim)
  auto parts = qkv.reshape({n, t, 3, n_heads, d / n_heads}).permute({2, 0, 3, 1, 4});
  auto q = parts[0], k = parts[1], v = parts[2];
  auto weights = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * scale, /*dim=*/-1);
  // (N, heads, T, head_dim) -> (N, T, D)
  return torch::matmul(weights, v).transpose(1, 2).reshape({n, t, d});
}

}  // namespace vit
