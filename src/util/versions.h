// Versions of vit-train and of the libraries it runs on, for --version and the start-up log.
#pragma once

#include <string>

namespace vit {

// One line per component: "vit-train 0.1.0 (revision abc1234)", "LibTorch 1.13.0", "MPI ...",
// and "NCCL ...", "CUDA runtime ..." in GPU builds.
std::string version_report();

#ifdef VIT_WITH_CUDA
// The NCCL library linked at run time, e.g. "2.27.3".
std::string nccl_version_string();
#endif

}  // namespace vit
