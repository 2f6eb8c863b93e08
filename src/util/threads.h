// CPU threads of one rank. LibTorch parallelises its own kernels over intra-op threads; OpenBLAS,
// which Debian's LibTorch calls for matrix products, would start a second pool of its own on top.
// Measured on the 2-core development machine: that double pool made the seed model's training
// step about twice as slow as one thread, while OpenBLAS held to one thread under LibTorch's
// threads costs nothing. So OpenBLAS is pinned to one thread and LibTorch gets the rank's share.
#pragma once

#include <cstdint>

namespace vit {

struct ThreadSetup {
  int intra_op = 1;          // LibTorch intra-op threads of this rank
  bool blas_pinned = false;  // whether an OpenBLAS was found and set to one thread
};

// requested > 0: exactly that many; 0: the machine's cores divided by the ranks on this machine
// (at least 1), so ranks never oversubscribe the cores.
ThreadSetup configure_threads(int64_t requested, int ranks_on_node);

}  // namespace vit
