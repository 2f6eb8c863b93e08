#include "model/image_attention.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>

#include "model/aligned_buffer.h"
#include "model/vector_math.h"
#include "util/error.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define VIT_IMAGE_ATTENTION 1
#endif

namespace vit {

int64_t image_attention_stride(int64_t tokens) { return (tokens + 7) / 8 * 8; }

#ifdef VIT_IMAGE_ATTENTION
namespace {

// Every function that uses AVX2 registers, and every one inlined into them, carries the target.
#define VIT_AVX2 gnu::target("avx2,fma")

// Rows of queries (or keys) whose products are summed at once, and the widest run of 8-float
// columns: 4 x 2 accumulators, with the loaded and broadcast operands, fit AVX2's 16 registers.
constexpr int kRows = 4;
constexpr int kColumnVectors = 2;

[[VIT_AVX2]] inline void transpose8(__m256 (&r)[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xee);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xee);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// dst (hd x stride, aligned) = the transpose of T rows of hd floats at `src` (rows `src_stride`
// apart), the columns past T zero.
[[VIT_AVX2]] void transpose_rows(const float* src, int64_t src_stride, int64_t T, int64_t hd,
                                 int64_t stride, float* dst) {
  for (int64_t j = 0; j < stride; j += 8) {
    for (int64_t d = 0; d < hd; d += 8) {
      __m256 r[8];
      for (int64_t i = 0; i < 8; ++i) {
        r[i] = j + i < T ? _mm256_loadu_ps(src + (j + i) * src_stride + d) : _mm256_setzero_ps();
      }
      transpose8(r);
      for (int64_t i = 0; i < 8; ++i) _mm256_store_ps(dst + (d + i) * stride + j, r[i]);
    }
  }
}

// out[r][c] = factor * sum_d a[r][d] * bt[d][c] for R rows of a (a_stride apart) and 8 C columns
// of bt (hd rows, bt_stride apart, aligned), into rows of out (out_stride apart).
template <int R, int C>
[[VIT_AVX2, gnu::always_inline]] inline void dot_tile(const float* a, int64_t a_stride,
                                                      const float* bt, int64_t bt_stride,
                                                      int64_t hd, __m256 factor, float* out,
                                                      int64_t out_stride) {
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  for (int64_t d = 0; d < hd; ++d) {
    __m256 b[C];
    for (int c = 0; c < C; ++c) b[c] = _mm256_load_ps(bt + d * bt_stride + 8 * c);
    for (int r = 0; r < R; ++r) {
      const __m256 x = _mm256_broadcast_ss(a + r * a_stride + d);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(x, b[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      _mm256_storeu_ps(out + r * out_stride + 8 * c, _mm256_mul_ps(acc[r][c], factor));
    }
  }
}

// out[r][c] = factor * sum_{j < J} w[r * w_row + j * w_col] * x[j][c] for R output rows and 8 C
// columns of the rows x[j] (x_stride apart), into rows of out (out_stride apart).
template <int R, int C>
[[VIT_AVX2, gnu::always_inline]] inline void weighted_tile(const float* w, int64_t w_row,
                                                           int64_t w_col, int64_t J,
                                                           const float* x, int64_t x_stride,
                                                           __m256 factor, float* out,
                                                           int64_t out_stride) {
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  for (int64_t j = 0; j < J; ++j) {
    __m256 xj[C];
    for (int c = 0; c < C; ++c) xj[c] = _mm256_loadu_ps(x + j * x_stride + 8 * c);
    for (int r = 0; r < R; ++r) {
      const __m256 wj = _mm256_broadcast_ss(w + r * w_row + j * w_col);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(wj, xj[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      _mm256_storeu_ps(out + r * out_stride + 8 * c, _mm256_mul_ps(acc[r][c], factor));
    }
  }
}

// R rows of out = factor * a bt, from row i: a is rows of hd floats (a_stride apart), bt is hd x
// stride, out rows of stride floats.
template <int R>
[[VIT_AVX2, gnu::always_inline]] inline void dot_rows(int64_t hd, const float* a, int64_t a_stride,
                                                      const float* bt, int64_t stride, __m256 f,
                                                      float* out) {
  int64_t j = 0;
  for (; j + 8 * kColumnVectors <= stride; j += 8 * kColumnVectors) {
    dot_tile<R, kColumnVectors>(a, a_stride, bt + j, stride, hd, f, out + j, stride);
  }
  for (; j < stride; j += 8) dot_tile<R, 1>(a, a_stride, bt + j, stride, hd, f, out + j, stride);
}

// out (T x stride) = factor * a bt: a is T rows of hd floats (a_stride apart), bt is hd x stride.
[[VIT_AVX2]] void dots(int64_t T, int64_t hd, const float* a, int64_t a_stride, const float* bt,
                       int64_t stride, float factor, float* out) {
  const __m256 f = _mm256_set1_ps(factor);
  int64_t i = 0;
  for (; i + kRows <= T; i += kRows) {
    dot_rows<kRows>(hd, a + i * a_stride, a_stride, bt, stride, f, out + i * stride);
  }
  const float* a_end = a + i * a_stride;
  float* out_end = out + i * stride;
  switch (T - i) {  // the rows left (kRows is 4)
    case 3:
      return dot_rows<3>(hd, a_end, a_stride, bt, stride, f, out_end);
    case 2:
      return dot_rows<2>(hd, a_end, a_stride, bt, stride, f, out_end);
    case 1:
      return dot_rows<1>(hd, a_end, a_stride, bt, stride, f, out_end);
    default:
      return;
  }
}

// R output rows of weighted() from `w` (the rows' first weights) into `out`.
template <int R>
[[VIT_AVX2, gnu::always_inline]] inline void weighted_rows(int64_t T, int64_t hd, const float* w,
                                                           int64_t w_row, int64_t w_col,
                                                           const float* x, int64_t x_stride,
                                                           __m256 f, float* out,
                                                           int64_t out_stride) {
  int64_t c = 0;
  for (; c + 8 * kColumnVectors <= hd; c += 8 * kColumnVectors) {
    weighted_tile<R, kColumnVectors>(w, w_row, w_col, T, x + c, x_stride, f, out + c, out_stride);
  }
  for (; c < hd; c += 8) {
    weighted_tile<R, 1>(w, w_row, w_col, T, x + c, x_stride, f, out + c, out_stride);
  }
}

// out[r] = factor * sum_{j < T} w[r * w_row + j * w_col] x[j] for the T output rows (out_stride
// apart) of hd floats, x being T rows of hd floats (x_stride apart).
[[VIT_AVX2]] void weighted(int64_t T, int64_t hd, const float* w, int64_t w_row, int64_t w_col,
                           const float* x, int64_t x_stride, float factor, float* out,
                           int64_t out_stride) {
  static_assert(kRows == 4, "the rows left below are 1 to 3");
  const __m256 f = _mm256_set1_ps(factor);
  int64_t i = 0;
  for (; i + kRows <= T; i += kRows) {
    weighted_rows<kRows>(T, hd, w + i * w_row, w_row, w_col, x, x_stride, f,
                         out + i * out_stride, out_stride);
  }
  const float* w_end = w + i * w_row;
  float* out_end = out + i * out_stride;
  switch (T - i) {
    case 3:
      return weighted_rows<3>(T, hd, w_end, w_row, w_col, x, x_stride, f, out_end, out_stride);
    case 2:
      return weighted_rows<2>(T, hd, w_end, w_row, w_col, x, x_stride, f, out_end, out_stride);
    case 1:
      return weighted_rows<1>(T, hd, w_end, w_row, w_col, x, x_stride, f, out_end, out_stride);
    default:
      return;
  }
}

// The sums and maxima of a vector's 8 floats, in a fixed order.
[[VIT_AVX2, gnu::always_inline]] inline __m256 horizontal_sum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm256_broadcastss_ps(x);
}

[[VIT_AVX2, gnu::always_inline]] inline __m256 horizontal_max(__m256 v) {
  __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_max_ps(x, _mm_movehl_ps(x, x));
  x = _mm_max_ss(x, _mm_movehdup_ps(x));
  return _mm256_broadcastss_ps(x);
}

// exp(x) for x <= 0, 8 at a time: model/vector_math.h's exp_nonpositive (the same reduction,
// polynomial and clamps; a NaN stays NaN), with multiply-adds.
[[VIT_AVX2, gnu::always_inline]] inline __m256 exp8_nonpositive(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-87.0f), x);  // (a NaN x is returned as it is)
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
  // 2^n in the exponent bits, n clamped to [-127, 127] (a NaN n to -127, p keeps the NaN).
  const __m256 n_safe =
      _mm256_min_ps(_mm256_max_ps(n, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
  const __m256i bits = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n_safe), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

// All ones in the lanes of the last vector of a row that lie past its T tokens.
[[VIT_AVX2]] __m256 padding_lanes(int64_t T, int64_t stride) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i first_pad = _mm256_set1_epi32(static_cast<int>(T - (stride - 8)));
  return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32(1)),
                                                first_pad));
}

// Rows of scores (T of them, then the padding to the stride) into softmax weights, the padding 0.
// Vectors of 8 along each row (the last one masked), and one horizontal maximum and sum per row.
[[VIT_AVX2]] void softmax_rows(int64_t T, int64_t stride, float* s) {
  const __m256 pad = padding_lanes(T, stride);
  const __m256 lowest = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  const int64_t last = stride - 8;
  for (int64_t i = 0; i < T; ++i) {
    float* row = s + i * stride;
    __m256 top = _mm256_blendv_ps(_mm256_loadu_ps(row + last), lowest, pad);
    for (int64_t j = 0; j < last; j += 8) top = _mm256_max_ps(top, _mm256_loadu_ps(row + j));
    top = horizontal_max(top);
    __m256 sum = _mm256_setzero_ps();
    for (int64_t j = 0; j <= last; j += 8) {
      __m256 p = exp8_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(row + j), top));
      if (j == last) p = _mm256_andnot_ps(pad, p);
      _mm256_storeu_ps(row + j, p);
      sum = _mm256_add_ps(sum, p);
    }
    const __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), horizontal_sum(sum));
    for (int64_t j = 0; j <= last; j += 8) {
      _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), inv));
    }
  }
}

// The score gradients from dP (in ds) and the weights: dS = W * (dP - sum_j W dP), row by row
// (the padding: W is 0 there, and so is dS).
[[VIT_AVX2]] void softmax_backward_rows(int64_t T, int64_t stride, const float* w, float* ds) {
  for (int64_t i = 0; i < T; ++i) {
    const float* wi = w + i * stride;
    float* di = ds + i * stride;
    __m256 wdp = _mm256_setzero_ps();
    for (int64_t j = 0; j < stride; j += 8) {
      wdp = _mm256_fmadd_ps(_mm256_loadu_ps(wi + j), _mm256_loadu_ps(di + j), wdp);
    }
    wdp = horizontal_sum(wdp);
    for (int64_t j = 0; j < stride; j += 8) {
      const __m256 wj = _mm256_loadu_ps(wi + j);
      _mm256_storeu_ps(di + j, _mm256_mul_ps(wj, _mm256_sub_ps(_mm256_loadu_ps(di + j), wdp)));
    }
  }
}

// Runs fn(image, head, first, second) for every (image, head) pair on the intra-op threads, with
// two scratch buffers per thread of `first` and `second` floats.
template <typename Fn>
void for_each_head(const ImageAttentionShape& s, int64_t first, int64_t second, const Fn& fn) {
  at::parallel_for(0, s.images * s.heads, /*grain_size=*/1, [&](int64_t begin, int64_t end) {
    const AlignedBuffer a(first), b(second);
    for (int64_t task = begin; task < end; ++task) fn(task / s.heads, task % s.heads, a.get(), b.get());
  });
}

}  // namespace

bool image_attention_runs(int64_t head_dim) {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return avx2 && head_dim > 0 && head_dim % 8 == 0;
}

void image_attention_forward(const ImageAttentionShape& s, const float* qkv, float* out,
                             float* weights) {
  const int64_t T = s.tokens, D = s.dim, hd = D / s.heads, stride = image_attention_stride(T);
  VIT_CHECK(image_attention_runs(hd), "image attention: heads ", hd, " wide do not run here");
  for_each_head(s, hd * stride, 0, [&](int64_t n, int64_t h, float* kt, float*) {
    const float* q = qkv + n * T * 3 * D + h * hd;
    const float* k = q + D;
    const float* v = q + 2 * D;
    float* w = weights + (n * s.heads + h) * T * stride;
    transpose_rows(k, 3 * D, T, hd, stride, kt);
    dots(T, hd, q, 3 * D, kt, stride, s.scale, w);
    softmax_rows(T, stride, w);
    weighted(T, hd, w, stride, 1, v, 3 * D, 1.0f, out + n * T * D + h * hd, D);
  });
}

void image_attention_backward(const ImageAttentionShape& s, const float* qkv,
                              const float* weights, const float* dout, float* dqkv) {
  const int64_t T = s.tokens, D = s.dim, hd = D / s.heads, stride = image_attention_stride(T);
  VIT_CHECK(image_attention_runs(hd), "image attention: heads ", hd, " wide do not run here");
  for_each_head(s, hd * stride, T * stride, [&](int64_t n, int64_t h, float* vt, float* ds) {
    const int64_t row = n * T * 3 * D + h * hd;
    const float* q = qkv + row;
    const float* k = q + D;
    const float* v = q + 2 * D;
    const float* g = dout + n * T * D + h * hd;
    const float* w = weights + (n * s.heads + h) * T * stride;
    // dP = g v^T, then dS = W * (dP - sum_j W dP).
    transpose_rows(v, 3 * D, T, hd, stride, vt);
    dots(T, hd, g, D, vt, stride, 1.0f, ds);
    softmax_backward_rows(T, stride, w, ds);
    // dq = scale dS k; dk = scale dS^T q; dv = W^T g.
    weighted(T, hd, ds, stride, 1, k, 3 * D, s.scale, dqkv + row, 3 * D);
    weighted(T, hd, ds, 1, stride, q, 3 * D, s.scale, dqkv + row + D, 3 * D);
    weighted(T, hd, w, 1, stride, g, D, 1.0f, dqkv + row + 2 * D, 3 * D);
  });
}

#else  // not x86-64 with GCC or clang

bool image_attention_runs(int64_t) { return false; }

void image_attention_forward(const ImageAttentionShape&, const float*, float*, float*) {
  VIT_FAIL("image attention: this build has no AVX2 kernel");
}

void image_attention_backward(const ImageAttentionShape&, const float*, const float*,
                              const float*, float*) {
  VIT_FAIL("image attention: this build has no AVX2 kernel");
}

#endif

}  // namespace vit
