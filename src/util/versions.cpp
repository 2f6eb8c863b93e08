#include "util/versions.h"

#include <mpi.h>
#include <torch/torch.h>

#include <sstream>

#include "vit_revision.h"  // generated: VIT_REVISION

#ifdef VIT_WITH_CUDA
#include <cuda_runtime_api.h>

#include "dist/nccl_communicator.h"
#endif

namespace vit {

std::string version_report() {
  std::ostringstream out;
  out << "vit-train " << VIT_VERSION << " (revision " << VIT_REVISION << ")\n";
  out << "LibTorch " << TORCH_VERSION << (torch::cuda::is_available() ? " (CUDA)" : " (CPU)")
      << "\n";
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
