// The MPI back end with GPU tensors (label gpu), under mpiexec with 2 ranks that share one GPU: the
// fallback that ranks sharing a GPU use. Values go through the host and come back on the GPU; the
// all-reduce's time leaves out the GPU work queued before it. Skips without a GPU (fails instead
// under VIT_REQUIRE_GPU, as in the GPU check) and in builds without CUDA.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include "parallel/mpi_communicator.h"
#include "test_util.h"

namespace vit {
namespace {

#ifdef VIT_WITH_CUDA

const torch::Device kGpu(torch::kCUDA, 0);

TEST(MpiWithGpuTensors, AllReduceAndBroadcastComeBackOnTheGpu) {
  VIT_REQUIRE_GPU();
  MpiCommunicator comm(MPI_COMM_WORLD);
  const int r = comm.rank(), n = comm.world_size();
  torch::Tensor buffer = torch::full({1 << 20}, static_cast<float>(r + 1), kGpu);
  comm.all_reduce_mean(buffer);
  EXPECT_TRUE(buffer.is_cuda());
  EXPECT_TRUE(torch::equal(buffer.cpu(), torch::full({1 << 20}, (n + 1) / 2.0f)));
  torch::Tensor ids = torch::full({3}, int64_t{r}, torch::TensorOptions(kGpu).dtype(torch::kLong));
  comm.broadcast(ids, /*root=*/n - 1);
  EXPECT_TRUE(torch::equal(ids.cpu(), torch::full({3}, int64_t{n - 1}, torch::kLong)));
}

TEST(MpiWithGpuTensors, TheAllReduceTimeLeavesOutQueuedGpuWork) {
  VIT_REQUIRE_GPU();
  MpiCommunicator comm(MPI_COMM_WORLD);
  torch::Tensor buffer = torch::ones({1 << 16}, kGpu);
  torch::cuda::synchronize();
  testing::queue_gpu_work(0.5);  // a long backward pass, still queued when the all-reduce starts
  buffer.mul_(2);
  comm.all_reduce_mean(buffer);
  EXPECT_TRUE(torch::equal(buffer.cpu(), torch::full({1 << 16}, 2.0f)));  // waited for it
  EXPECT_GT(comm.all_reduce_seconds(), 0);
  EXPECT_LT(comm.all_reduce_seconds(), 0.25) << "the all-reduce's time includes the queued work";
}

#else  // !VIT_WITH_CUDA

TEST(MpiWithGpuTensors, NeedsCuda) {
  if (std::getenv("VIT_REQUIRE_GPU") != nullptr) FAIL() << "built without CUDA (the GPU check)";
  GTEST_SKIP() << "built without CUDA";
}

#endif

}  // namespace
}  // namespace vit
