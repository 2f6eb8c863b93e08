// Keeping the replicas identical: broadcast of rank 0's model at start, and the debug check that
// every rank still holds bit-identical parameters.
#pragma once

#include <torch/torch.h>

#include "parallel/communicator.h"

namespace vit {

// Tensors (a module's parameters and buffers) flattened into one tensor (a copy), and the
// inverse: the start-up broadcast sends a model in one call. All tensors must share one dtype
// (it is kept: no silent cast); throws vit::Error naming the first that differs.
torch::Tensor flatten_state(const std::vector<torch::Tensor>& tensors);
void unflatten_state(const torch::Tensor& flat, std::vector<torch::Tensor>& tensors);

// Copies rank 0's parameters and buffers into every rank's module, in one broadcast, waited for
// with the communicator's deadline.
void broadcast_module(torch::nn::Module& module, Communicator& comm);

// CRC-32 of the exact bytes of the module's parameters and then its buffers, in their order: the
// one state hash, for the replica check and for the checksum that checkpoints and model files
// store ("model_crc").
uint64_t state_checksum(const torch::nn::Module& module);

// Throws vit::Error naming the ranks whose parameters differ from rank 0's. Collective.
void check_replicas(const torch::nn::Module& module, Communicator& comm, const std::string& when);

}  // namespace vit
