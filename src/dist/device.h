// Which device a rank trains on: cuda:<local rank> when LibTorch has CUDA and that GPU exists
// (dist.device = auto or cuda), cuda:0 when the rank sees exactly one GPU (a GPU per task, as
// srun --gpus-per-task gives), else the CPU.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "config/train_config.h"
#include "dist/communicator.h"
#include "dist/mpi_context.h"

namespace vit {

// Throws vit::Error naming the rank when dist.device = cuda cannot be honoured.
torch::Device choose_device(const DistConfig& config, int rank, int local_rank);

// The gradient back end for `device`: NCCL for CUDA devices in GPU builds (dist.backend auto or
// nccl), MPI otherwise. Throws when dist.backend = nccl cannot be honoured.
std::unique_ptr<Communicator> make_communicator(const DistConfig& config, torch::Device device,
                                                MPI_Comm comm);

}  // namespace vit
