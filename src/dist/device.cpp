#include "dist/device.h"

#include "dist/mpi_communicator.h"
#include "util/error.h"
#ifdef VIT_WITH_CUDA
#include "dist/nccl_communicator.h"
#endif

namespace vit {

torch::Device choose_device(const DistConfig& config, int rank, int local_rank) {
  if (config.device == "cpu") return torch::kCPU;
  const int gpus = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  // One visible GPU per rank (srun --gpus-per-task, CUDA_VISIBLE_DEVICES per rank): cuda:0.
  if (gpus == 1) return {torch::kCUDA, 0};
  if (local_rank < gpus) return {torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank)};
  VIT_CHECK(config.device != "cuda", "dist.device: rank ", rank, " (local rank ", local_rank,
            ") asked for cuda but this machine has ", gpus,
            " usable GPU(s); start at most one rank per GPU");
  return torch::kCPU;
}

std::unique_ptr<Communicator> make_communicator(const DistConfig& config, torch::Device device,
                                                MPI_Comm comm) {
  const bool want_nccl = config.backend == "nccl" || (config.backend == "auto" && device.is_cuda());
  if (want_nccl) {
#ifdef VIT_WITH_CUDA
    VIT_CHECK(device.is_cuda(), "dist.backend: nccl needs a CUDA device (dist.device is cpu)");
    return std::make_unique<NcclCommunicator>(comm, device, config.timeout_s);
#else
    VIT_CHECK(config.backend != "nccl",
              "dist.backend: nccl is not built in (LibTorch without CUDA); use mpi or auto");
#endif
  }
  return std::make_unique<MpiCommunicator>(comm);
}

}  // namespace vit
