// Keeping the replicas identical: broadcast of rank 0's model at start, and the debug check that
// every rank still holds bit-identical parameters.
#pragma once

#include <torch/torch.h>

#include "dist/communicator.h"

namespace vit {

// Copies rank 0's parameters and buffers into every rank's module, in one broadcast, waited for
// with the communicator's deadline.
void broadcast_module(torch::nn::Module& module, Communicator& comm);

// A 64-bit hash of the exact bytes of the module's parameters and buffers.
uint64_t state_checksum(const torch::nn::Module& module);

// Throws vit::Error naming the ranks whose parameters differ from rank 0's. Collective.
void check_replicas(const torch::nn::Module& module, Communicator& comm, const std::string& when);

}  // namespace vit
