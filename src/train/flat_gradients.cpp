#include "train/flat_gradients.h"

#include "util/error.h"

namespace vit {

FlatGradients::FlatGradients(std::vector<torch::Tensor> parameters)
    : parameters_(std::move(parameters)) {
  VIT_CHECK(!parameters_.empty(), "flat gradients: no parameters");
  int64_t total = 0;
  for (const auto& p : parameters_) total += p.numel();
  buffer_ = torch::zeros({total + 1}, parameters_.front().options().requires_grad(false));
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (auto& p : parameters_) {
    VIT_CHECK(p.device() == buffer_.device() && p.scalar_type() == buffer_.scalar_type(),
              "flat gradients: parameters differ in device or type");
    p.mutable_grad() = buffer_.narrow(/*dim=*/0, offset, p.numel()).view(p.sizes());
    offset += p.numel();
  }
}

bool FlatGradients::intact() const {
  const auto* begin = static_cast<const char*>(buffer_.data_ptr());
  const auto* end = begin + buffer_.numel() * buffer_.element_size();
  for (const auto& p : parameters_) {
    if (!p.grad().defined()) return false;
    const auto* at = static_cast<const char*>(p.grad().data_ptr());
    if (at < begin || at >= end) return false;
  }
  return true;
}

}  // namespace vit
