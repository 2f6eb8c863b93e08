#include "parallel/library_versions.h"

#include <torch/torch.h>

#include <sstream>

#include "model/linear.h"          // linear_library
#include "parallel/mpi_context.h"  // mpi_library_version
#include "parallel/placement.h"    // cuda_runtime_version
#include "vit_revision.h"          // generated: VIT_REVISION

#ifdef VIT_WITH_CUDA
#include "parallel/nccl_communicator.h"  // nccl_library_version
#endif

namespace vit {

std::string version_report(const std::string& program) {
  std::ostringstream out;
  out << program << " " << VIT_VERSION << " (revision " << VIT_REVISION << ")\n";
#ifdef VIT_WITH_CUDA
  // A CUDA build says so even on a machine without a GPU, and how many GPUs it sees.
  const auto gpus = torch::cuda::device_count();
  out << "LibTorch " << TORCH_VERSION << " (CUDA build, "
      << (gpus > 0 ? std::to_string(gpus) + " GPU(s) visible" : std::string("no GPU visible"))
      << ")\n";
#else
  out << "LibTorch " << TORCH_VERSION << " (CPU)\n";
#endif
  out << "MPI " << mpi_library_version() << "\n";
  out << "CPU linear layers: " << linear_library() << "\n";
#ifdef VIT_WITH_CUDA
  out << "NCCL " << nccl_library_version() << "\n";
  out << "CUDA runtime " << cuda_runtime_version() << "\n";
#else
  out << "NCCL, CUDA: not built in (LibTorch without CUDA)\n";
#endif
  return out.str();
}

}  // namespace vit
