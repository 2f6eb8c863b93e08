#include "model/fused_attention.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "model/aligned_buffer.h"
#include "model/image_attention.h"
#include "model/vector_math.h"
#include "util/error.h"
#include "util/multiversion.h"

// The attention kernel's own AVX2 version sits beside GCC's clones (util/multiversion.h).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VIT_ATTENTION_AVX2 1
#endif

namespace vit {
namespace {

// The kernel works on blocks of kLanes images at once, one (block, head) pair per task: every
// quantity is a vector of kLanes floats, one per image, so each loop below is kLanes wide with no
// remainder and no horizontal sums (a head of the seed model is 50 tokens of width 4: vectors
// along tokens or along the head would be short, odd and reduced across lanes). q, k, v and the
// gradients are copied into lane-interleaved scratch: element (token t, column d, image l) at
// (t * hd + d) * kLanes + l. A last block's lanes past the batch compute on a copy of its first
// image and are never written back.
constexpr int64_t kLanes = 16;

// The widest head the kernel takes (its accumulators live on the stack); wider heads use the
// matmul formulation.
constexpr int64_t kMaxHeadDim = 64;

// Whether the kernel takes qkv (N, T, 3D) of n_heads heads: heads at most kMaxHeadDim wide, and a
// block's span of images small enough for 32-bit offsets.
bool kernel_takes(const torch::Tensor& qkv, int64_t n_heads) {
  const int64_t dim = qkv.size(2) / 3;
  return dim / n_heads <= kMaxHeadDim &&
         kLanes * qkv.size(1) * qkv.size(2) <= std::numeric_limits<int32_t>::max();
}

// One (block of images, head) task.
struct BlockTask {
  int64_t tokens;    // T
  int64_t head_dim;  // hd
  int64_t head;      // which head
  int64_t first;     // first image of the block
  int64_t images;    // images in the block: kLanes, or fewer in the last one
  float scale;
};

// Scratch of one thread, reused across its tasks; the gradients' buffers for the backward pass
// only (empty in the forward pass).
struct Scratch {
  Scratch(int64_t tokens, int64_t head_dim, bool backward)
      : q(tokens * head_dim * kLanes),
        k(tokens * head_dim * kLanes),
        v(tokens * head_dim * kLanes),
        g(tokens * head_dim * kLanes),
        dq(backward ? tokens * head_dim * kLanes : 0),
        dk(backward ? tokens * head_dim * kLanes : 0),
        dv(backward ? tokens * head_dim * kLanes : 0),
        ds(backward ? tokens * tokens * kLanes : 0) {}
  AlignedBuffer q, k, v, g, dq, dk, dv, ds;
};

// Copies columns [col, col + hd) of every token of the block's images from rows of `stride`
// floats (image after image, T rows each) into lane-interleaved `dst`, times `factor`. Lanes past
// the block's images repeat its first image: finite values whose results are never written back.
VIT_MULTIVERSION_WIDE
void gather(const float* src, int64_t stride, int64_t col, float factor, const BlockTask& b,
            float* dst) {
  const int64_t T = b.tokens, hd = b.head_dim;
  int32_t offset[kLanes];  // from the block's first image (fits: kernel_takes)
  for (int64_t l = 0; l < kLanes; ++l) {
    offset[l] = static_cast<int32_t>((l < b.images ? l : 0) * T * stride);
  }
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t d = 0; d < hd; ++d) {
      float* out = dst + (t * hd + d) * kLanes;
      const float* in = src + b.first * T * stride + t * stride + col + d;
#pragma omp simd
      for (int64_t l = 0; l < kLanes; ++l) out[l] = in[offset[l]] * factor;
    }
  }
}

// The inverse: lane-interleaved `src` into columns [col, col + hd) of the block's images' rows.
VIT_MULTIVERSION_WIDE
void scatter(const float* src, const BlockTask& b, float* dst, int64_t stride, int64_t col) {
  const int64_t T = b.tokens, hd = b.head_dim;
  int32_t offset[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) offset[l] = static_cast<int32_t>(l * T * stride);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t d = 0; d < hd; ++d) {
      const float* in = src + (t * hd + d) * kLanes;
      float* out = dst + b.first * T * stride + t * stride + col + d;
      if (b.images == kLanes) {
#pragma omp simd
        for (int64_t l = 0; l < kLanes; ++l) out[offset[l]] = in[l];
      } else {
        for (int64_t l = 0; l < b.images; ++l) out[offset[l]] = in[l];
      }
    }
  }
}

// How the kernels hold their accumulators in registers, a compile-time choice per instruction set.
// kKeys: query-key dot products computed at once (each a chain of hd multiply-adds; several in
// flight hide the latency). kCols: output columns summed at once (0: the whole head). With 16
// lanes an accumulator is one AVX-512 register but two AVX2 ones, and AVX2 has 16 registers, not
// 32: a whole head of 16 columns is 32 AVX2 registers, which spilled to the stack (a load, a
// multiply-add and a store per product), so AVX2 sums 4 columns at a time (8 registers) and 4
// keys at a time.
// AVX-512 and the baseline keep the loops as first written: one key, the whole head.
#ifdef VIT_ATTENTION_AVX2
constexpr int64_t kAvx2Keys = 4;
constexpr int64_t kAvx2Cols = 4;
#endif

// dot[n] = a . b_n per lane for kKeys rows b_n = b + n * hd * kLanes of hd lane-interleaved
// columns (consecutive tokens).
template <int64_t kHd, int64_t kKeys>
[[gnu::always_inline]] inline void lane_dots(const float* a, const float* b, int64_t head_dim,
                                             float (&dot)[kKeys][kLanes]) {
  const int64_t hd = kHd > 0 ? kHd : head_dim;
  for (int64_t n = 0; n < kKeys; ++n) {
#pragma omp simd
    for (int64_t l = 0; l < kLanes; ++l) dot[n][l] = 0.0f;
  }
  for (int64_t d = 0; d < hd; ++d) {
    for (int64_t n = 0; n < kKeys; ++n) {
#pragma omp simd
      for (int64_t l = 0; l < kLanes; ++l) {
        dot[n][l] += a[d * kLanes + l] * b[(n * hd + d) * kLanes + l];
      }
    }
  }
}

// For every query (or key) row, fn(j, dot) with dot = a . b_j per lane for the T rows b_j of b:
// kKeys of them at a time, the rest one by one.
template <int64_t kHd, int64_t kKeys, typename Fn>
[[gnu::always_inline]] inline void for_each_dot(int64_t T, int64_t hd, const float* a,
                                                const float* b, const Fn& fn) {
  int64_t j = 0;
  for (; j + kKeys <= T; j += kKeys) {
    float dot[kKeys][kLanes];
    lane_dots<kHd, kKeys>(a, b + j * hd * kLanes, hd, dot);
    for (int64_t n = 0; n < kKeys; ++n) fn(j + n, dot[n]);
  }
  for (; j < T; ++j) {
    float dot[1][kLanes];
    lane_dots<kHd, 1>(a, b + j * hd * kLanes, hd, dot);
    fn(j, dot[0]);
  }
}

// out[d] = factor * sum_j w_j x_j[d] per lane, for the T rows x_j of hd lane-interleaved columns,
// with weights w_j at w + j * w_stride (lanes): kCols columns at a time. factor is per lane.
template <int64_t kHd, int64_t kCols>
[[gnu::always_inline]] inline void weighted_rows(int64_t T, int64_t head_dim, const float* w,
                                                 int64_t w_stride, const float* x,
                                                 const float* factor, float* out) {
  const int64_t hd = kHd > 0 ? kHd : head_dim;
  constexpr int64_t kAcc = kCols > 0 ? kCols : (kHd > 0 ? kHd : kMaxHeadDim);
  const int64_t cols = kCols > 0 ? kCols : hd;
  for (int64_t c = 0; c < hd; c += cols) {
    float acc[kAcc][kLanes] = {};
    for (int64_t j = 0; j < T; ++j) {
      const float* wj = w + j * w_stride;
      const float* xj = x + (j * hd + c) * kLanes;
      for (int64_t d = 0; d < cols; ++d) {
#pragma omp simd
        for (int64_t l = 0; l < kLanes; ++l) acc[d][l] += wj[l] * xj[d * kLanes + l];
      }
    }
    for (int64_t d = 0; d < cols; ++d) {
#pragma omp simd
      for (int64_t l = 0; l < kLanes; ++l) out[(c + d) * kLanes + l] = acc[d][l] * factor[l];
    }
  }
}

// Forward of one block and head: from q (already times the scale), k and v in scratch to the
// output (lane-interleaved, into s.g) and the softmax weights (T x T x kLanes), saved for the
// backward pass. Recomputing the weights there from a saved log-sum-exp instead was measured 16%
// slower for the whole training step (seed model, one core): the exp costs more than the memory
// traffic of storing them. kHd is the head width where it is a compile-time constant, else 0.
template <int64_t kHd, int64_t kKeys, int64_t kCols>
[[gnu::always_inline]] inline void block_forward(int64_t T, int64_t head_dim, Scratch& s,
                                                 float* weights) {
  const int64_t hd = kHd > 0 ? kHd : head_dim;
  const float* q = s.q.get();
  const float* k = s.k.get();
  const float* v = s.v.get();
  float* out = s.g.get();
  for (int64_t i = 0; i < T; ++i) {
    float* wi = weights + i * T * kLanes;  // the scores first, then exp, then the weights
    float top[kLanes];
    for (int64_t l = 0; l < kLanes; ++l) top[l] = -std::numeric_limits<float>::infinity();
    for_each_dot<kHd, kKeys>(T, hd, q + i * hd * kLanes, k, [&](int64_t j, const float* dot) {
#pragma omp simd
      for (int64_t l = 0; l < kLanes; ++l) {
        wi[j * kLanes + l] = dot[l];
        top[l] = top[l] > dot[l] ? top[l] : dot[l];
      }
    });
    float sum[kLanes] = {};
    for (int64_t j = 0; j < T; ++j) {
#pragma omp simd
      for (int64_t l = 0; l < kLanes; ++l) {
        const float p = exp_nonpositive(wi[j * kLanes + l] - top[l]);
        wi[j * kLanes + l] = p;
        sum[l] += p;
      }
    }
    float inv[kLanes];
#pragma omp simd
    for (int64_t l = 0; l < kLanes; ++l) inv[l] = 1.0f / sum[l];
    weighted_rows<kHd, kCols>(T, hd, wi, kLanes, v, inv, out + i * hd * kLanes);
    for (int64_t j = 0; j < T; ++j) {
#pragma omp simd
      for (int64_t l = 0; l < kLanes; ++l) wi[j * kLanes + l] *= inv[l];
    }
  }
}

// Backward of one block and head: from q, k, v and the output gradient g in scratch and the saved
// weights to the gradients of q (s.dq), k (s.dk) and v (s.dv). Row by row of queries first (dq,
// and the score gradients dS into s.ds), then key by key (dk and dv as sums over queries), so that
// every accumulator stays in registers and nothing is read, added to and stored back per pair.
template <int64_t kHd, int64_t kKeys, int64_t kCols>
[[gnu::always_inline]] inline void block_backward(int64_t T, int64_t head_dim, float scale,
                                                  Scratch& s, const float* weights) {
  const int64_t hd = kHd > 0 ? kHd : head_dim;
  const float* q = s.q.get();
  const float* k = s.k.get();
  const float* v = s.v.get();
  const float* g = s.g.get();
  float* dq = s.dq.get();
  float* dk = s.dk.get();
  float* dv = s.dv.get();
  float* ds = s.ds.get();
  float ones[kLanes];
  float scales[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) ones[l] = 1.0f, scales[l] = scale;
  for (int64_t i = 0; i < T; ++i) {
    const float* wi = weights + i * T * kLanes;
    float* dsi = ds + i * T * kLanes;
    // dP[i, j] = g_i . v_j (into dS's row for now), and sum_j W[i, j] dP[i, j].
    float wdp[kLanes] = {};
    for_each_dot<kHd, kKeys>(T, hd, g + i * hd * kLanes, v, [&](int64_t j, const float* dot) {
#pragma omp simd
      for (int64_t l = 0; l < kLanes; ++l) {
        dsi[j * kLanes + l] = dot[l];
        wdp[l] += wi[j * kLanes + l] * dot[l];
      }
    });
    // Softmax backward dS = W * (dP - sum_j W dP) (the scale of q k^T applied to dq and dk
    // below); dq_i = scale * sum_j dS k_j.
    for (int64_t j = 0; j < T; ++j) {
#pragma omp simd
      for (int64_t l = 0; l < kLanes; ++l) {
        dsi[j * kLanes + l] = wi[j * kLanes + l] * (dsi[j * kLanes + l] - wdp[l]);
      }
    }
    weighted_rows<kHd, kCols>(T, hd, dsi, kLanes, k, scales, dq + i * hd * kLanes);
  }
  // dv_j = sum_i W[i, j] g_i and dk_j = scale * sum_i dS[i, j] q_i: column j of W and dS.
  for (int64_t j = 0; j < T; ++j) {
    weighted_rows<kHd, kCols>(T, hd, weights + j * kLanes, T * kLanes, g, ones,
                                dv + j * hd * kLanes);
    weighted_rows<kHd, kCols>(T, hd, ds + j * kLanes, T * kLanes, q, scales,
                                dk + j * hd * kLanes);
  }
}

// The compiled kernels: head widths of the models in configs/ get their own, others the general
// one. Each is compiled for AVX-512 and the baseline (one key, the whole head), and for AVX2 with FMA
// (x86-64-v3, with the AVX2 blocking), picked at load time.
#ifdef VIT_ATTENTION_AVX2
#define VIT_TARGET_AVX512_AND_BASELINE __attribute__((target_clones("avx512f", "default")))
#else
#define VIT_TARGET_AVX512_AND_BASELINE
#endif
#ifdef VIT_ATTENTION_AVX2
#define VIT_ATTENTION_KERNELS_AVX2(HD)                                                       \
  [[gnu::target("arch=x86-64-v3")]] void forward_avx2_##HD(int64_t T, int64_t hd, Scratch& s, \
                                                          float* w) {                       \
    block_forward<HD, kAvx2Keys, kAvx2Cols>(T, hd, s, w);                                                  \
  }                                                                                         \
  [[gnu::target("arch=x86-64-v3")]] void backward_avx2_##HD(int64_t T, int64_t hd,           \
                                                           float scale, Scratch& s,         \
                                                           const float* w) {                \
    block_backward<HD, kAvx2Keys, kAvx2Cols>(T, hd, scale, s, w);                                          \
  }
#else
#define VIT_ATTENTION_KERNELS_AVX2(HD)
#endif
#define VIT_ATTENTION_KERNELS(HD)                                                               \
  VIT_TARGET_AVX512_AND_BASELINE void forward_##HD(int64_t T, int64_t hd, Scratch& s,           \
                                                   float* w) {                                  \
    block_forward<HD, 1, 0>(T, hd, s, w);                                                 \
  }                                                                                             \
  VIT_TARGET_AVX512_AND_BASELINE void backward_##HD(int64_t T, int64_t hd, float scale,         \
                                                    Scratch& s, const float* w) {               \
    block_backward<HD, 1, 0>(T, hd, scale, s, w);                                         \
  }                                                                                             \
  VIT_ATTENTION_KERNELS_AVX2(HD)
VIT_ATTENTION_KERNELS(0)
VIT_ATTENTION_KERNELS(4)
VIT_ATTENTION_KERNELS(8)
VIT_ATTENTION_KERNELS(16)
#undef VIT_ATTENTION_KERNELS
#undef VIT_ATTENTION_KERNELS_AVX2

#ifdef VIT_ATTENTION_AVX2
// Which version runs: AVX2's blocking where the CPU has AVX2 and FMA but not AVX-512 (there the
// clones choose), and where the head width is a multiple of its 4 columns.
bool avx2_kernel(int64_t hd) {
  static const bool avx2 =
      __builtin_cpu_supports("x86-64-v3") && !__builtin_cpu_supports("avx512f");
  return avx2 && hd % kAvx2Cols == 0;
}
#endif

#ifdef VIT_ATTENTION_AVX2
#define VIT_PICK(NAME, HD, ...) \
  return avx2_kernel(hd) ? NAME##_avx2_##HD(__VA_ARGS__) : NAME##_##HD(__VA_ARGS__)
#else
#define VIT_PICK(NAME, HD, ...) return NAME##_##HD(__VA_ARGS__)
#endif

void run_forward(int64_t T, int64_t hd, Scratch& s, float* weights) {
  switch (hd) {
    case 4:
      VIT_PICK(forward, 4, T, hd, s, weights);
    case 8:
      VIT_PICK(forward, 8, T, hd, s, weights);
    case 16:
      VIT_PICK(forward, 16, T, hd, s, weights);
    default:
      VIT_PICK(forward, 0, T, hd, s, weights);
  }
}

void run_backward(int64_t T, int64_t hd, float scale, Scratch& s, const float* weights) {
  switch (hd) {
    case 4:
      VIT_PICK(backward, 4, T, hd, scale, s, weights);
    case 8:
      VIT_PICK(backward, 8, T, hd, scale, s, weights);
    case 16:
      VIT_PICK(backward, 16, T, hd, scale, s, weights);
    default:
      VIT_PICK(backward, 0, T, hd, scale, s, weights);
  }
}
#undef VIT_PICK

int64_t blocks_of(int64_t images) { return (images + kLanes - 1) / kLanes; }

// Where a (block, head) pair's weights start in the saved weights tensor.
int64_t weights_offset(int64_t block, int64_t head, int64_t n_heads, int64_t T) {
  return (block * n_heads + head) * T * T * kLanes;
}

// Runs fn(task, scratch) for every (block, head) pair on the intra-op threads.
template <typename Fn>
void for_each_block(const torch::Tensor& qkv, int64_t n_heads, double scale, bool backward,
                    const Fn& fn) {
  const int64_t n = qkv.size(0), T = qkv.size(1), hd = qkv.size(2) / 3 / n_heads;
  const int64_t tasks = blocks_of(n) * n_heads;
  at::parallel_for(0, tasks, /*grain_size=*/1, [&](int64_t begin, int64_t end) {
    Scratch scratch(T, hd, backward);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t block = task / n_heads, first = block * kLanes;
      const BlockTask b{
          T, hd, task % n_heads, first, std::min(kLanes, n - first), static_cast<float>(scale)};
      fn(b, scratch, weights_offset(block, b.head, n_heads, T));
    }
  });
}

ImageAttentionShape image_shape(const torch::Tensor& qkv, int64_t n_heads, double scale) {
  return {qkv.size(0), qkv.size(1), qkv.size(2) / 3, n_heads, static_cast<float>(scale)};
}

class FusedAttentionFunction : public torch::autograd::Function<FusedAttentionFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qkv_in,
                               int64_t n_heads, double scale) {
    const torch::Tensor qkv = qkv_in.contiguous();
    const int64_t n = qkv.size(0), t = qkv.size(1), dim = qkv.size(2) / 3;
    auto out = torch::empty({n, t, dim}, qkv.options());
    ctx->save_for_backward({qkv});
    ctx->saved_data["n_heads"] = n_heads;
    ctx->saved_data["scale"] = scale;
    if (image_attention_runs(dim / n_heads)) {
      // (n, heads, T, T rounded up to 8): the layout the per-image kernel reads and writes.
      auto weights =
          torch::empty({n, n_heads, t, image_attention_stride(t)}, qkv.options());
      image_attention_forward(image_shape(qkv, n_heads, scale), qkv.data_ptr<float>(),
                              out.data_ptr<float>(), weights.data_ptr<float>());
      ctx->saved_data["weights"] = weights;
      return out;
    }
    // Per (block, head): T x T x kLanes, the layout the kernels read and write.
    auto weights = torch::empty({blocks_of(n), n_heads, t, t, kLanes}, qkv.options());
    const float* src = qkv.data_ptr<float>();
    float* w = weights.data_ptr<float>();
    float* o = out.data_ptr<float>();
    for_each_block(qkv, n_heads, scale, /*backward=*/false,
                   [&](const BlockTask& b, Scratch& s, int64_t offset) {
                     const int64_t h = b.head * b.head_dim;
                     gather(src, 3 * dim, h, b.scale, b, s.q.get());
                     gather(src, 3 * dim, dim + h, 1.0f, b, s.k.get());
                     gather(src, 3 * dim, 2 * dim + h, 1.0f, b, s.v.get());
                     run_forward(b.tokens, b.head_dim, s, w + offset);
                     scatter(s.g.get(), b, o, dim, h);
                   });
    ctx->saved_data["weights"] = weights;
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const torch::Tensor qkv = ctx->get_saved_variables()[0];
    const torch::Tensor weights = ctx->saved_data["weights"].toTensor();
    const int64_t n_heads = ctx->saved_data["n_heads"].toInt();
    const double scale = ctx->saved_data["scale"].toDouble();
    const torch::Tensor dout = grads[0].contiguous();
    const int64_t dim = qkv.size(2) / 3;
    auto dqkv = torch::empty_like(qkv);
    if (weights.dim() == 4) {  // the per-image kernel's
      image_attention_backward(image_shape(qkv, n_heads, scale), qkv.data_ptr<float>(),
                               weights.data_ptr<float>(), dout.data_ptr<float>(),
                               dqkv.data_ptr<float>());
      return {dqkv, torch::Tensor(), torch::Tensor()};
    }
    const float* src = qkv.data_ptr<float>();
    const float* w = weights.data_ptr<float>();
    const float* g = dout.data_ptr<float>();
    float* dst = dqkv.data_ptr<float>();
    for_each_block(qkv, n_heads, scale, /*backward=*/true,
                   [&](const BlockTask& b, Scratch& s, int64_t offset) {
                     const int64_t h = b.head * b.head_dim;
                     gather(src, 3 * dim, h, 1.0f, b, s.q.get());
                     gather(src, 3 * dim, dim + h, 1.0f, b, s.k.get());
                     gather(src, 3 * dim, 2 * dim + h, 1.0f, b, s.v.get());
                     gather(g, dim, h, 1.0f, b, s.g.get());
                     run_backward(b.tokens, b.head_dim, b.scale, s, w + offset);
                     scatter(s.dq.get(), b, dst, 3 * dim, h);
                     scatter(s.dk.get(), b, dst, 3 * dim, dim + h);
                     scatter(s.dv.get(), b, dst, 3 * dim, 2 * dim + h);
                   });
    return {dqkv, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

AttentionKernel parse_attention_kernel(const std::string& name) {
  if (const auto kernel = parse_choice<AttentionKernel>(name)) return *kernel;
  VIT_FAIL("train.attention: unknown kernel '", name, "' (allowed: auto, fused, matmul)");
}

bool use_fused_attention(const torch::Tensor& qkv, int64_t n_heads, AttentionKernel kernel) {
  return kernel != AttentionKernel::kMatmul && qkv.device().is_cpu() &&
         qkv.scalar_type() == torch::kFloat32 && qkv.dim() == 3 && kernel_takes(qkv, n_heads);
}

torch::Tensor fused_attention(const torch::Tensor& qkv, int64_t n_heads, double scale) {
  VIT_CHECK(qkv.dim() == 3 && qkv.size(2) % (3 * n_heads) == 0,
            "fused attention: qkv of shape ", qkv.sizes(), " does not split into q, k, v of ",
            n_heads, " heads");
  VIT_CHECK(kernel_takes(qkv, n_heads), "fused attention: qkv of shape ", qkv.sizes(), " in ",
            n_heads, " heads is too large (heads at most ", kMaxHeadDim,
            " wide, 16 images' tokens under 2^31 floats)");
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
