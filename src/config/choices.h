// The values of the enumerated config keys as enum classes, each with its one table of names: the
// config parses a key's text into its enum once (config/train_config), and writes it back with
// to_string (config.ini, the start-up table, the config a checkpoint stores as text), so that
// nothing outside config/ compares a key's value as a string.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace vit {

enum class OptimName { kAdam, kAdamW, kSgd };               // optim.name
enum class LrSchedule { kConstant, kCosine };               // optim.schedule
enum class LrScaling { kNone, kLinear };                    // optim.lr_scaling
enum class OnOff { kOn, kOff };                             // optim.fused
enum class AttentionKernel { kAuto, kFused, kMatmul };      // train.attention
enum class ParallelMode { kAuto, kBatch, kOps };            // train.parallel
enum class CudaGraphMode { kAuto, kOn, kOff };              // train.cuda_graph
enum class Precision { kFp32, kBf16 };                      // train.precision
enum class MemoryCheck { kRefuse, kWarn, kOff };            // train.memory_check
enum class DatasetName { kMnist, kFashionMnist };           // data.dataset
enum class BackendChoice { kAuto, kMpi, kNccl };            // dist.backend
enum class DeviceKind { kAuto, kCpu, kCuda };               // dist.device
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };  // log.level
enum class ProgressSetting { kAuto, kBar, kLines };         // log.progress
// train.monitor: the metric that checkpoint.keep_best and train.early_stop follow
enum class MonitorMetric { kAuto, kValAcc, kValLoss, kTestAcc, kTestLoss, kTrainLoss };

template <typename E>
struct Choice {
  E value;
  const char* name;  // as written in config files, on the command line and in config.ini
};

// An enum's names, in the order help texts and errors list them. Specialised once per enum.
template <typename E>
struct ChoiceTable;

#define VIT_CHOICES(Enum, ...)                                                   \
  template <>                                                                    \
  struct ChoiceTable<Enum> {                                                     \
    static constexpr Choice<Enum> kValues[] = {__VA_ARGS__};                     \
  }
VIT_CHOICES(OptimName, {OptimName::kAdam, "adam"}, {OptimName::kAdamW, "adamw"},
            {OptimName::kSgd, "sgd"});
VIT_CHOICES(LrSchedule, {LrSchedule::kConstant, "constant"}, {LrSchedule::kCosine, "cosine"});
VIT_CHOICES(LrScaling, {LrScaling::kNone, "none"}, {LrScaling::kLinear, "linear"});
VIT_CHOICES(OnOff, {OnOff::kOn, "on"}, {OnOff::kOff, "off"});
VIT_CHOICES(AttentionKernel, {AttentionKernel::kAuto, "auto"}, {AttentionKernel::kFused, "fused"},
            {AttentionKernel::kMatmul, "matmul"});
VIT_CHOICES(ParallelMode, {ParallelMode::kAuto, "auto"}, {ParallelMode::kBatch, "batch"},
            {ParallelMode::kOps, "ops"});
VIT_CHOICES(CudaGraphMode, {CudaGraphMode::kAuto, "auto"}, {CudaGraphMode::kOn, "on"},
            {CudaGraphMode::kOff, "off"});
VIT_CHOICES(Precision, {Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"});
VIT_CHOICES(MemoryCheck, {MemoryCheck::kRefuse, "refuse"}, {MemoryCheck::kWarn, "warn"},
            {MemoryCheck::kOff, "off"});
VIT_CHOICES(DatasetName, {DatasetName::kMnist, "mnist"},
            {DatasetName::kFashionMnist, "fashion-mnist"});
VIT_CHOICES(BackendChoice, {BackendChoice::kAuto, "auto"}, {BackendChoice::kMpi, "mpi"},
            {BackendChoice::kNccl, "nccl"});
VIT_CHOICES(DeviceKind, {DeviceKind::kAuto, "auto"}, {DeviceKind::kCpu, "cpu"},
            {DeviceKind::kCuda, "cuda"});
VIT_CHOICES(LogLevel, {LogLevel::kTrace, "trace"}, {LogLevel::kDebug, "debug"},
            {LogLevel::kInfo, "info"}, {LogLevel::kWarn, "warn"}, {LogLevel::kError, "error"});
VIT_CHOICES(ProgressSetting, {ProgressSetting::kAuto, "auto"}, {ProgressSetting::kBar, "bar"},
            {ProgressSetting::kLines, "lines"});
VIT_CHOICES(MonitorMetric, {MonitorMetric::kAuto, "auto"}, {MonitorMetric::kValAcc, "val_acc"},
            {MonitorMetric::kValLoss, "val_loss"}, {MonitorMetric::kTestAcc, "test_acc"},
            {MonitorMetric::kTestLoss, "test_loss"}, {MonitorMetric::kTrainLoss, "train_loss"});
#undef VIT_CHOICES

// Whether E is one of the enums above.
template <typename E, typename = void>
struct IsChoice : std::false_type {};
template <typename E>
struct IsChoice<E, std::void_t<decltype(ChoiceTable<E>::kValues)>> : std::true_type {};
template <typename E>
inline constexpr bool kIsChoice = IsChoice<E>::value;

// The value's name: to_string(OptimName::kAdamW) == "adamw".
template <typename E, typename = std::enable_if_t<kIsChoice<E>>>
std::string to_string(E value) {
  for (const Choice<E>& choice : ChoiceTable<E>::kValues) {
    if (choice.value == value) return choice.name;
  }
  return "?";  // not reached: every enumerator has a name
}

// The value named `text`, or nothing when no value has that name (exact, case-sensitive).
template <typename E, typename = std::enable_if_t<kIsChoice<E>>>
std::optional<E> parse_choice(std::string_view text) {
  for (const Choice<E>& choice : ChoiceTable<E>::kValues) {
    if (text == choice.name) return choice.value;
  }
  return std::nullopt;
}

// The names, for messages: "adam, adamw, sgd".
template <typename E, typename = std::enable_if_t<kIsChoice<E>>>
std::string choice_names() {
  std::string out;
  for (const Choice<E>& choice : ChoiceTable<E>::kValues) {
    out += out.empty() ? choice.name : std::string(", ") + choice.name;
  }
  return out;
}

// dist.device: auto | cpu | cuda | cuda:N. The enum with, for cuda:N, the GPU index N where each
// machine's local rank 0 trains (local rank r on N + r).
struct DeviceSetting {
  DeviceKind kind = DeviceKind::kAuto;
  int first_gpu = -1;  // N of cuda:N; -1 for auto, cpu and cuda
};
inline bool operator==(const DeviceSetting& a, const DeviceSetting& b) {
  return a.kind == b.kind && a.first_gpu == b.first_gpu;
}
inline bool operator!=(const DeviceSetting& a, const DeviceSetting& b) { return !(a == b); }
inline std::string to_string(const DeviceSetting& device) {
  return to_string(device.kind) +
         (device.first_gpu >= 0 ? ":" + std::to_string(device.first_gpu) : std::string());
}
// "auto", "cpu", "cuda", or "cuda:N" with N of 1 to 4 digits; nothing for any other text.
inline std::optional<DeviceSetting> parse_device(std::string_view text) {
  const std::string_view prefix = "cuda:";
  if (text.substr(0, prefix.size()) == prefix) {
    const std::string_view digits = text.substr(prefix.size());
    if (digits.empty() || digits.size() > 4) return std::nullopt;
    int index = 0;
    for (char ch : digits) {
      if (ch < '0' || ch > '9') return std::nullopt;
      index = index * 10 + (ch - '0');
    }
    return DeviceSetting{DeviceKind::kCuda, index};
  }
  if (const auto kind = parse_choice<DeviceKind>(text)) return DeviceSetting{*kind, -1};
  return std::nullopt;
}

// The keys whose text is parsed into a value of their own type: the enums, and dist.device.
template <typename T>
inline constexpr bool kIsSetting = kIsChoice<T> || std::is_same_v<T, DeviceSetting>;

// The value of a setting's text, or nothing when the text names none.
template <typename T, typename = std::enable_if_t<kIsSetting<T>>>
std::optional<T> parse_setting(std::string_view text) {
  if constexpr (std::is_same_v<T, DeviceSetting>) {
    return parse_device(text);
  } else {
    return parse_choice<T>(text);
  }
}

// What a setting's text may be, for messages.
template <typename T, typename = std::enable_if_t<kIsSetting<T>>>
std::string setting_names() {
  if constexpr (std::is_same_v<T, DeviceSetting>) {
    return choice_names<DeviceKind>() + ", cuda:N";
  } else {
    return choice_names<T>();
  }
}

}  // namespace vit
