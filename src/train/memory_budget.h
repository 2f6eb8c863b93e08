// How much memory a run will take, estimated from its settings before it allocates: values each
// within their own key's limit can together need more than the machine has (a wide model with
// many patches at batch 128), and the out-of-memory killer then ends the job with no word. The
// estimate counts the data set, the model with its gradients and optimizer state, one training
// step's saved activations, one evaluation batch and the runtime itself; vit-train compares it
// with the memory its machine has free and with the address-space limit before it trains.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "config/train_config.h"
#include "model/vit.h"  // ImageShape

namespace vit {

struct MemoryEstimate {
  uint64_t data = 0;         // the training and test images as float32, their labels
  uint64_t model = 0;        // parameters, gradients, optimizer state, flat buffers
  uint64_t activations = 0;  // what one training step keeps for its backward pass, and its grads
  uint64_t evaluation = 0;   // one evaluation batch, without gradients
  uint64_t runtime = 0;      // the libraries, thread stacks and allocator caches of a rank
  int64_t threads = 1;       // the rank's threads (each maps a stack, an arena, a BLAS buffer)
  // A step and an evaluation batch never hold their tensors at once.
  uint64_t total() const { return data + model + std::max(activations, evaluation) + runtime; }
  // The keys that set the largest part, as "model.hidden_d = 512, train.batch_size = 128, ...".
  std::string largest_keys(const TrainConfig& config) const;
};

// One rank's estimate for a CPU run of `config` with `threads` threads on this many training and
// test images.
MemoryEstimate estimate_memory(const TrainConfig& config, const ImageShape& image,
                               int64_t train_images, int64_t test_images, int64_t threads);

// Checks `estimate` times the ranks on this machine against the memory it has free and against
// the address-space limit (ulimit -v; `mapped` is what the process maps already). Throws Error
// with one line naming the keys and the limit when the run cannot fit; with train.memory_check =
// warn, returns that line as a warning instead ("" when it fits; always "" with off).
std::string check_memory(const MemoryEstimate& estimate, const TrainConfig& config,
                         int ranks_on_machine, std::optional<uint64_t> available,
                         const std::string& available_source,
                         std::optional<uint64_t> address_space_limit, uint64_t mapped);

// check_memory with this machine's facts: its free memory (util/resource_limits.h), this process's
// address-space limit and what it maps now.
std::string check_memory_here(const MemoryEstimate& estimate, const TrainConfig& config,
                              int ranks_on_machine);

}  // namespace vit
