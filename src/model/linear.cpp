#include "model/linear.h"

#include <cstring>

#include "train/precision.h"  // autocast_enabled
#include "util/error.h"
#include "util/multiversion.h"

#ifdef VIT_WITH_DNNL
#include <dnnl.h>
#endif

namespace vit {

bool dnnl_linear_built() {
#ifdef VIT_WITH_DNNL
  return true;
#else
  return false;
#endif
}

std::string linear_library() {
#ifdef VIT_WITH_DNNL
  const dnnl_version_t* v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch);
#else
  return "LibTorch (oneDNN not built in)";
#endif
}

bool use_dnnl_linear(const torch::Tensor& x, const torch::Tensor& weight) {
  return dnnl_linear_built() && x.device().is_cpu() && weight.device().is_cpu() &&
         x.scalar_type() == torch::kFloat32 && weight.scalar_type() == torch::kFloat32 &&
         x.dim() >= 1 && weight.dim() == 2 && x.size(-1) == weight.size(1) &&
         !autocast_enabled(torch::kCPU);
}

void sgemm(char trans_a, char trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {  // an empty sum: c = beta c, where beta 0 does not read c
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t j = 0; j < n; ++j) c[r * ldc + j] = beta == 0.0f ? 0.0f : beta * c[r * ldc + j];
    }
    return;
  }
#ifdef VIT_WITH_DNNL
  // oneDNN runs it on OpenMP threads as LibTorch's kernels do: the intra-op threads, or inside a
  // parallel region (train.parallel batch: a worker's slice) on the calling thread alone.
  const dnnl_status_t status =
      dnnl_sgemm(trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  VIT_CHECK(status == dnnl_success, "linear: oneDNN's sgemm of ", m, "x", k, " by ", k, "x", n,
            " failed (status ", static_cast<int>(status), ")");
#else
  // op(p), rows x cols, as a view of p's row-major storage (its transpose where trans is 'T').
  const auto matrix = [](const float* p, char trans, int64_t rows, int64_t cols, int64_t ld) {
    float* data = const_cast<float*>(p);  // read only
    return trans == 'T' ? torch::from_blob(data, {rows, cols}, {1, ld})
                        : torch::from_blob(data, {rows, cols}, {ld, 1});
  };
  torch::NoGradGuard no_grad;
  torch::Tensor out = torch::from_blob(c, {m, n}, {ldc, 1});
  // beta 0: c is not read (addmm's rule, as BLAS's), so it may hold anything.
  out.addmm_(matrix(a, trans_a, m, k, lda), matrix(b, trans_b, k, n, ldb), beta, 1.0f);
#endif
}

#ifdef VIT_WITH_DNNL
namespace {

// Every row of y (m x n) = the residual's row (rows `stride` apart) + bias.
VIT_MULTIVERSION_WIDE void residual_plus_bias(const float* residual, int64_t stride,
                                              const float* bias, float* y, int64_t m, int64_t n) {
  for (int64_t r = 0; r < m; ++r) {
    const float* in = residual + r * stride;
    float* out = y + r * n;
    for (int64_t c = 0; c < n; ++c) out[c] = in[c] + bias[c];
  }
}

// The forward and backward passes of the autograd Functions below; bias and residual may be
// undefined.
torch::Tensor linear_forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                             const torch::Tensor& weight, const torch::Tensor& bias,
                             const torch::Tensor& residual = torch::Tensor()) {
  const int64_t in = weight.size(1), out = weight.size(0);
  // (..., in) as m rows: a view where x is contiguous, as the layers' inputs are.
  int64_t m = 1;
  for (int64_t d = 0; d + 1 < x.dim(); ++d) m *= x.size(d);
  const torch::Tensor rows = x.reshape({m, in}).contiguous();
  const torch::Tensor w = weight.contiguous();
  torch::Tensor y = torch::empty({m, out}, rows.options());
  float beta = 0.0f;
  if (residual.defined()) {
    // The product adds to residual + bias (beta 1): the block's residual connection.
    torch::Tensor r = residual.reshape({m, out});
    if (r.stride(1) != 1) r = r.contiguous();
    residual_plus_bias(r.data_ptr<float>(), r.stride(0), bias.contiguous().data_ptr<float>(),
                       y.data_ptr<float>(), m, out);
    beta = 1.0f;
  } else if (bias.defined()) {
    // The product adds to the bias (beta 1), copied into every row.
    const torch::Tensor b = bias.contiguous();
    float* dst = y.data_ptr<float>();
    const float* src = b.data_ptr<float>();
    for (int64_t r = 0; r < m; ++r) std::memcpy(dst + r * out, src, out * sizeof(float));
    beta = 1.0f;
  }
  if (m > 0 && out > 0) {
    if (in > 0) {
      sgemm('N', 'T', m, out, in, rows.data_ptr<float>(), in, w.data_ptr<float>(), in, beta,
            y.data_ptr<float>(), out);
    } else if (beta == 0.0f) {
      y.zero_();
    }
  }
  ctx->save_for_backward({rows, w});
  ctx->saved_data["sizes"] = x.sizes().vec();
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = out;
  return y.view(sizes);
}

// {dx, dW, db}, each undefined where not needed (db also where there is no bias).
torch::autograd::tensor_list linear_backward(torch::autograd::AutogradContext* ctx,
                                             const torch::Tensor& grad, bool has_bias) {
  const auto saved = ctx->get_saved_variables();
  const torch::Tensor& rows = saved[0];
  const torch::Tensor& w = saved[1];
  const int64_t m = rows.size(0), in = rows.size(1), out = w.size(0);
  const torch::Tensor dy = grad.reshape({m, out}).contiguous();
  torch::Tensor dx, dw, db;
  if (ctx->needs_input_grad(0)) {
    // dx = dy W: (m x out) by (out x in).
    dx = torch::empty({m, in}, rows.options());
    if (m > 0 && in > 0) {
      if (out > 0) {
        sgemm('N', 'N', m, in, out, dy.data_ptr<float>(), out, w.data_ptr<float>(), in, 0.0f,
              dx.data_ptr<float>(), in);
      } else {
        dx.zero_();
      }
    }
    dx = dx.view(ctx->saved_data["sizes"].toIntVector());
  }
  if (ctx->needs_input_grad(1)) {
    // dW = dy^T x: (out x m) by (m x in).
    dw = torch::empty({out, in}, w.options());
    if (out > 0 && in > 0) {
      if (m > 0) {
        sgemm('T', 'N', out, in, m, dy.data_ptr<float>(), out, rows.data_ptr<float>(), in, 0.0f,
              dw.data_ptr<float>(), in);
      } else {
        dw.zero_();
      }
    }
  }
  if (has_bias && ctx->needs_input_grad(2)) db = dy.sum(0);
  return {dx, dw, db};
}

// LibTorch 1.13's Functions take no undefined tensor among their inputs: one with a bias, one
// without.
class LinearFunction : public torch::autograd::Function<LinearFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias) {
    return linear_forward(ctx, x, weight, bias);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    return linear_backward(ctx, grads[0], /*has_bias=*/true);
  }
};

class LinearNoBiasFunction : public torch::autograd::Function<LinearNoBiasFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight) {
    return linear_forward(ctx, x, weight, torch::Tensor());
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto g = linear_backward(ctx, grads[0], /*has_bias=*/false);
    g.pop_back();
    return g;
  }
};

// residual + linear(x, weight, bias): the residual's gradient is the output's, as it is.
class LinearResidualFunction : public torch::autograd::Function<LinearResidualFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& residual) {
    return linear_forward(ctx, x, weight, bias, residual);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto g = linear_backward(ctx, grads[0], /*has_bias=*/true);
    g.push_back(grads[0]);
    return g;
  }
};

}  // namespace
#endif

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias) {
  VIT_CHECK(weight.dim() == 2 && x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: inputs of ",
            x.sizes(), " for a weight of ", weight.sizes());
  VIT_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)),
            "linear: a bias of ", bias.sizes(), " for a weight of ", weight.sizes());
#ifdef VIT_WITH_DNNL
  if (use_dnnl_linear(x, weight) &&
      (!bias.defined() || (bias.device().is_cpu() && bias.scalar_type() == torch::kFloat32))) {
    return bias.defined() ? LinearFunction::apply(x, weight, bias)
                          : LinearNoBiasFunction::apply(x, weight);
  }
#endif
  return torch::nn::functional::linear(x, weight, bias);
}

torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& layer) {
  return linear(x, layer->weight, layer->bias);
}

torch::Tensor linear(const torch::Tensor& x, const torch::nn::Linear& layer,
                     const torch::Tensor& residual) {
  if (!residual.defined()) return linear(x, layer);
  const torch::Tensor& weight = layer->weight;
  const torch::Tensor& bias = layer->bias;
  VIT_CHECK(weight.dim() == 2 && x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: inputs of ",
            x.sizes(), " for a weight of ", weight.sizes());
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = weight.size(0);
  VIT_CHECK(residual.sizes() == torch::IntArrayRef(sizes), "linear: a residual of ",
            residual.sizes(), " for outputs of ", torch::IntArrayRef(sizes));
#ifdef VIT_WITH_DNNL
  if (use_dnnl_linear(x, weight) && bias.defined() && bias.device().is_cpu() &&
      bias.scalar_type() == torch::kFloat32 && residual.device().is_cpu() &&
      residual.scalar_type() == torch::kFloat32) {
    return LinearResidualFunction::apply(x, weight, bias, residual);
  }
#endif
  return residual + linear(x, weight, bias);
}

}  // namespace vit
