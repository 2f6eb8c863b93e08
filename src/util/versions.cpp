#include "util/versions.h"

#include <mpi.h>
#include <torch/torch.h>

#include <sstream>

#include "vit_revision.h"  // generated: VIT_REVISION

#ifdef VIT_WITH_CUDA
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

namespace vit {

#ifdef VIT_WITH_CUDA
std::string nccl_version_string() {
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess) return "unknown";
  // NCCL_VERSION's encoding: X*1000+Y*100+Z up to 2.8, X*10000+Y*100+Z after.
  const int major = code >= 10000 ? code / 10000 : code / 1000;
  const int minor = code >= 10000 ? code / 100 % 100 : code / 100 % 10;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(code % 100);
}
#endif

std::string version_report() {
  std::ostringstream out;
  out << "vit-train " << VIT_VERSION << " (revision " << VIT_REVISION << ")\n";
#ifdef VIT_WITH_CUDA
  // A CUDA build says so even on a machine without a GPU, and how many GPUs it sees.
  const auto gpus = torch::cuda::device_count();
  out << "LibTorch " << TORCH_VERSION << " (CUDA build, "
      << (gpus > 0 ? std::to_string(gpus) + " GPU(s) visible" : std::string("no GPU visible"))
      << ")\n";
#else
  out << "LibTorch " << TORCH_VERSION << " (CPU)\n";
#endif
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(mpi, &length);
  std::string mpi_line(mpi, static_cast<size_t>(length));
  out << "MPI " << mpi_line.substr(0, mpi_line.find_first_of(",\n")) << "\n";
#ifdef VIT_WITH_CUDA
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  out << "NCCL " << nccl_version_string() << "\n";
  out << "CUDA runtime " << runtime / 1000 << "." << (runtime % 1000) / 10 << "\n";
#else
  out << "NCCL, CUDA: not built in (LibTorch without CUDA)\n";
#endif
  return out.str();
}

}  // namespace vit
