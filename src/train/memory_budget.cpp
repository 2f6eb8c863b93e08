#include "train/memory_budget.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "util/error.h"
#include "util/resource_limits.h"

namespace vit {
namespace {

constexpr uint64_t kFloat = 4;
constexpr uint64_t kMiB = 1024 * 1024;
// A rank's own memory before any of the run's tensors: LibTorch, OpenBLAS and Open MPI loaded and
// started: the peak resident size of a smoke run (docs/measurements.md: 190 to 290 MiB),
// rounded up.
constexpr uint64_t kRuntimeBytes = 256 * kMiB;
// Address space a rank maps beyond what it maps at the check: a share of glibc's malloc arenas
// (64 MiB each), thread stacks and OpenBLAS's buffers, for the first thread and for each further
// one. Measured with the smoke config (VmSize 893 MiB at the check, 2-core machine): one thread
// runs at ulimit -v 1.0 GiB; two hang in their first step at 1.2 GiB and run at 1.3 GiB.
constexpr uint64_t kMappedFirstThread = 64 * kMiB;
constexpr uint64_t kMappedPerThread = 320 * kMiB;

uint64_t as_bytes(double floats) { return static_cast<uint64_t>(floats * kFloat); }

struct Shape {
  double tokens;     // T: patches and the class token
  double width;      // d
  double heads;      // h
  double blocks;     // B
  double mlp;        // m
  double patch_dim;  // values per patch
};

Shape shape_of(const ModelConfig& model, const ImageShape& image) {
  const double n = static_cast<double>(model.n_patches);
  const double side_h = static_cast<double>((image.height + model.n_patches - 1) / model.n_patches);
  const double side_w = static_cast<double>((image.width + model.n_patches - 1) / model.n_patches);
  return {n * n + 1,
          static_cast<double>(model.hidden_d),
          static_cast<double>(model.n_heads),
          static_cast<double>(model.n_blocks),
          static_cast<double>(model.mlp_ratio),
          static_cast<double>(image.channels) * side_h * side_w};
}

double parameters(const Shape& s) {
  const double d = s.width;
  const double per_block = (4 + 2 * s.mlp) * d * d + (9 + s.mlp) * d;  // attention, MLP, norms
  return s.patch_dim * d + 2 * d + s.blocks * per_block + d * 10 + 10;
}

// Floats one image keeps through a training step: per block the normalised inputs, q, k and v,
// the MLP's hidden layer before and after its activation, the residual sums and their gradients,
// one copy of the attention weights; plus the patches and the embedding. Fitted to the peak
// resident size of real runs (docs/measurements.md): 0% to 30% above it with widths 64 to 256,
// 50 and 197 tokens, either attention kernel.
double train_floats_per_image(const Shape& s) {
  const double td = s.tokens * s.width;
  const double attention = s.heads * s.tokens * s.tokens;
  return s.blocks * ((12 + 3 * s.mlp) * td + attention) + s.tokens * s.patch_dim + 2 * td;
}

// Floats one image needs at once in evaluation: a block's working set, nothing kept.
double eval_floats_per_image(const Shape& s) {
  const double td = s.tokens * s.width;
  return (6 + s.mlp) * td + s.heads * s.tokens * s.tokens + s.tokens * s.patch_dim;
}

std::string key(const char* name, int64_t value) {
  return std::string(name) + " = " + std::to_string(value);
}

}  // namespace

MemoryEstimate estimate_memory(const TrainConfig& config, const ImageShape& image,
                               int64_t train_images, int64_t test_images, int64_t threads) {
  const Shape s = shape_of(config.model, image);
  const double pixels = static_cast<double>(image.channels * image.height * image.width);
  const double images = static_cast<double>(train_images + test_images);
  MemoryEstimate out;
  out.data = as_bytes(images * pixels) + static_cast<uint64_t>(images) * 8;  // int64 labels
  out.threads = std::max<int64_t>(threads, 1);
  // Parameters, gradients, two moments, the flat buffers of the fused step; a gradient buffer per
  // thread when the threads split the batch.
  out.model = as_bytes(parameters(s) * (6 + static_cast<double>(out.threads)));
  out.activations = as_bytes(static_cast<double>(config.train.batch_size) *
                             train_floats_per_image(s));
  out.evaluation = as_bytes(static_cast<double>(config.train.eval_batch_size) *
                            eval_floats_per_image(s));
  out.runtime = kRuntimeBytes;
  return out;
}

std::string MemoryEstimate::largest_keys(const TrainConfig& config) const {
  const ModelConfig& m = config.model;
  const std::vector<std::pair<uint64_t, std::string>> parts = {
      {activations, "a training step's activations " + format_bytes(activations) + " (" +
                        key("train.batch_size", config.train.batch_size) + ", " +
                        key("model.n_patches", m.n_patches) + ", " +
                        key("model.hidden_d", m.hidden_d) + ", " +
                        key("model.n_blocks", m.n_blocks) + ", " +
                        key("model.n_heads", m.n_heads) + ")"},
      {evaluation, "an evaluation batch " + format_bytes(evaluation) + " (" +
                       key("train.eval_batch_size", config.train.eval_batch_size) + ", " +
                       key("model.n_patches", m.n_patches) + ", " +
                       key("model.hidden_d", m.hidden_d) + ")"},
      {model, "the model and its optimizer " + format_bytes(model) + " (" +
                  key("model.hidden_d", m.hidden_d) + ", " + key("model.n_blocks", m.n_blocks) +
                  ", " + key("model.mlp_ratio", m.mlp_ratio) + ")"},
      {data, "the data set " + format_bytes(data) + " (data.train_limit, data.test_limit)"},
  };
  return std::max_element(parts.begin(), parts.end(), [](const auto& a, const auto& b) {
           return a.first < b.first;
         })->second;
}

std::string check_memory(const MemoryEstimate& estimate, const TrainConfig& config,
                         int ranks_on_machine, std::optional<uint64_t> available,
                         const std::string& available_source,
                         std::optional<uint64_t> address_space_limit, uint64_t mapped) {
  const MemoryCheck mode = config.train.memory_check;
  if (mode == MemoryCheck::kOff) return "";
  const uint64_t ranks = static_cast<uint64_t>(std::max(ranks_on_machine, 1));
  const uint64_t need = estimate.total() * ranks;
  std::string problem;
  std::string fix;
  if (available && need > *available) {
    problem = detail::concat(
        "the run needs about ", format_bytes(need), " of memory on this machine (",
        ranks > 1 ? std::to_string(ranks) + " ranks x " + format_bytes(estimate.total())
                  : std::string("one rank"),
        "; the largest part is ", estimate.largest_keys(config), "), but ",
        format_bytes(*available), " are free (", available_source, ")");
    fix = ": lower those keys or run fewer ranks per machine";
  } else if (address_space_limit) {
    // A rank maps what it maps now, plus its tensors, plus each thread's stack and buffers.
    const auto threads = static_cast<uint64_t>(estimate.threads);
    const uint64_t tensors = estimate.total() - estimate.runtime;
    const uint64_t mapped_need = mapped + tensors + kMappedFirstThread + (threads - 1) * kMappedPerThread;
    if (mapped_need > *address_space_limit) {
      problem = detail::concat("the address-space limit (ulimit -v) is ",
                               format_bytes(*address_space_limit), ", below the about ",
                               format_bytes(mapped_need), " a rank maps (", format_bytes(mapped),
                               " of libraries and start-up, ", format_bytes(tensors),
                               " for the run, where ", estimate.largest_keys(config), ")");
      fix = ": raise the limit (ulimit -v unlimited)";
    }
  }
  if (problem.empty()) return "";
  if (mode == MemoryCheck::kWarn) return problem + "; trying anyway (train.memory_check = warn)";
  VIT_FAIL(problem, fix, ", or set train.memory_check = warn to try anyway");
}

std::string check_memory_here(const MemoryEstimate& estimate, const TrainConfig& config,
                              int ranks_on_machine) {
  const std::optional<AvailableMemory> available = available_memory();
  return check_memory(estimate, config, ranks_on_machine,
                      available ? std::optional<uint64_t>(available->bytes) : std::nullopt,
                      available ? available->source : "", address_space_limit(), mapped_bytes());
}

}  // namespace vit
