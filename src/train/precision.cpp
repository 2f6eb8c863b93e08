#include "train/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>  // TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR

#include "util/error.h"

// LibTorch 2.4 took the device type as an argument and deprecated the per-device functions that
// 1.13 (Debian's) has; both are wrapped here.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define VIT_AUTOCAST_BY_DEVICE 1
#endif

namespace vit {

bool autocast_enabled(torch::DeviceType type) {
#ifdef VIT_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(type);
#else
  return type == torch::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

namespace {

void set_autocast(torch::DeviceType type, bool enabled) {
#ifdef VIT_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(type, enabled);
#else
  if (type == torch::kCPU) {
    at::autocast::set_cpu_enabled(enabled);
  } else {
    at::autocast::set_enabled(enabled);
  }
#endif
}

torch::ScalarType autocast_type(torch::DeviceType type) {
#ifdef VIT_AUTOCAST_BY_DEVICE
  return at::autocast::get_autocast_dtype(type);
#else
  return type == torch::kCPU ? at::autocast::get_autocast_cpu_dtype()
                             : at::autocast::get_autocast_gpu_dtype();
#endif
}

void set_autocast_type(torch::DeviceType type, torch::ScalarType scalar_type) {
#ifdef VIT_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_dtype(type, scalar_type);
#else
  if (type == torch::kCPU) {
    at::autocast::set_autocast_cpu_dtype(scalar_type);
  } else {
    at::autocast::set_autocast_gpu_dtype(scalar_type);
  }
#endif
}

}  // namespace

Precision parse_precision(const std::string& name) {
  if (const auto precision = parse_choice<Precision>(name)) return *precision;
  VIT_FAIL("train.precision: '", name, "' is not one of fp32, bf16");
}

AutocastScope::AutocastScope(torch::Device device, Precision precision) {
  if (precision != Precision::kBf16) return;
  VIT_CHECK(device.is_cpu() || device.is_cuda(), "train.precision bf16: no autocast for device ",
            device.str());
  active_ = true;
  device_type_ = device.type();
  was_enabled_ = autocast_enabled(device_type_);
  was_caching_ = at::autocast::is_autocast_cache_enabled();
  old_type_ = autocast_type(device_type_);
  set_autocast_type(device_type_, torch::kBFloat16);
  at::autocast::set_autocast_cache_enabled(false);
  set_autocast(device_type_, true);
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  set_autocast(device_type_, was_enabled_);
  at::autocast::set_autocast_cache_enabled(was_caching_);
  set_autocast_type(device_type_, old_type_);
}

}  // namespace vit
