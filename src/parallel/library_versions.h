// The versions a program reports (--version, the start-up log): its own and those of the
// libraries it runs on, each asked of the unit that owns the library (MPI: mpi_context; NCCL:
// nccl_communicator; the CUDA runtime: placement; the CPU products: model/linear).
#pragma once

#include <string>

namespace vit {

// One line per component: "<program> 0.1.0 (revision abc1234)", "LibTorch 1.13.0 (CPU)",
// "MPI Open MPI v4.1.4", "CPU linear layers: oneDNN 2.6.3", then "NCCL ...", "CUDA runtime ..." in GPU builds (or one line saying
// they are not built in).
std::string version_report(const std::string& program);

}  // namespace vit
