// Where the ranks train and how they exchange gradients. Each rank proposes a device (a GPU when
// LibTorch has CUDA and dist.device allows it, the CPU otherwise); the ranks gather where every
// rank sits (host, device, the GPU's PCI bus id) and all derive the same decision from that list:
// one device kind for all ranks and one gradient back end, or an error naming the ranks at fault.
//
//   device kind   all ranks on GPUs, or all on the CPU; a mix is an error (collectives between a
//                 GPU back end and a CPU back end never match).
//   back end      nccl when every rank has a GPU of its own; ranks that share a GPU (more ranks
//                 than GPUs on a machine) cannot use NCCL ("duplicate GPU"), so dist.backend auto
//                 falls back to mpi (GPU tensors through the host) with one warning, and
//                 dist.backend nccl stops before NCCL is touched. mpi on the CPU.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "config/train_config.h"
#include "parallel/communicator.h"
#include "parallel/mpi_context.h"

namespace vit {

// Where one rank sits.
struct RankSite {
  std::string host;
  std::string device;      // "cpu" or "cuda:<index>" (the index as this rank sees it)
  std::string gpu_bus_id;  // the GPU's PCI bus id, e.g. "00000000:17:00.0"; empty on the CPU
};

// What the ranks agreed on.
struct Placement {
  torch::Device device = torch::kCPU;  // this rank's
  BackendChoice backend = BackendChoice::kMpi;  // kNccl or kMpi
  std::string warning;                 // one line for the log, or empty
  std::vector<RankSite> sites;         // every rank's, indexed by rank
};

// The CUDA runtime this build links, e.g. "13.0"; "" in a build without CUDA.
std::string cuda_runtime_version();

// The GPU a rank of local rank `local_rank` trains on among the `gpus` its machine shows: for
// dist.device cuda:N, N + local_rank (vit::Error when that is beyond the last GPU); else
// local_rank modulo gpus (GPU 0 when it sees one, as with srun --gpus-per-task).
int gpu_index(const DeviceSetting& device, int local_rank, int gpus);

// This rank's proposal: the CPU for dist.device cpu or without a usable GPU, else
// cuda:<gpu_index>, with that GPU's bus id.
RankSite local_site(const DistConfig& config, const std::string& host, int local_rank);

// The decision every rank derives from all ranks' sites. `nccl_built`: the NCCL back end is
// compiled in. Throws vit::Error (one line naming the ranks and hosts at fault) when dist.device
// or dist.backend cannot be honoured.
BackendChoice plan_backend(const DistConfig& config, const std::vector<RankSite>& sites,
                           bool nccl_built, std::string* warning);

// local_site, gathered over the ranks of `mpi` (collective), then plan_backend.
Placement place_ranks(const DistConfig& config, const MpiContext& mpi);

// What both programs do at start: place_ranks agreed on by every rank. Returns false on every
// rank, after one error line (succeeded_on_all_ranks), when the ranks cannot be placed; rank 0
// logs the placement's warning, if any. Collective.
bool agree_on_placement(const DistConfig& config, const MpiContext& mpi, Placement& placement);

// The gradient back end that `placement` names, over `comm` (borrowed).
std::unique_ptr<Communicator> make_communicator(const Placement& placement,
                                                const DistConfig& config, MPI_Comm comm);

}  // namespace vit
