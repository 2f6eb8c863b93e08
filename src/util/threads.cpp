#include "util/threads.h"

#include <dlfcn.h>
#include <torch/torch.h>

#include <algorithm>
#include <thread>

namespace vit {

ThreadSetup configure_threads(int64_t requested, int ranks_on_node) {
  ThreadSetup setup;
  // OpenBLAS exports this setter; looked up at run time so other BLAS libraries work unchanged.
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(1);
    setup.blas_pinned = true;
  }
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  setup.intra_op = requested > 0 ? static_cast<int>(requested)
                                 : std::max(1, cores / std::max(1, ranks_on_node));
  torch::set_num_threads(setup.intra_op);
  return setup;
}

}  // namespace vit
