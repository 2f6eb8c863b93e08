// NcclCommunicator on one GPU (label gpu). One rank (MPI_COMM_SELF, so the test means the same
// under mpirun), so the mean of a buffer is the buffer itself: what is checked is that init,
// enqueue, the ordering with torch's stream (long GPU work queued first), synchronize(), the
// all-reduce's GPU timing and the argument checks work end to end. Skips where there is no GPU,
// and in builds without CUDA (then the NCCL code is not compiled); fails instead under
// VIT_REQUIRE_GPU (the GPU check).
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <chrono>

#include "test_util.h"
#ifdef VIT_WITH_CUDA
#include "parallel/nccl_communicator.h"
#include "util/error.h"
#endif

namespace vit {
namespace {

#ifdef VIT_WITH_CUDA

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class NcclTest : public ::testing::Test {
 protected:
  void SetUp() override { VIT_REQUIRE_GPU(); }
  const torch::Device cuda0_{torch::kCUDA, 0};
};

// The ordering that a one-rank in-place all-reduce cannot show by its values: long GPU work is
// queued first on torch's stream and produces the buffer; synchronize() must cover it (the
// collective's stream waited for it), and the all-reduce's time must leave it out.
TEST_F(NcclTest, SynchronizeCoversTheWorkQueuedBeforeTheCollective) {
  NcclCommunicator comm(MPI_COMM_SELF, cuda0_, /*timeout_s=*/60);
  torch::Tensor buffer = torch::ones({1 << 16}, cuda0_);
  const c10::cuda::CUDAStream compute = c10::cuda::getCurrentCUDAStream(0);
  torch::cuda::synchronize();
  const auto start = Clock::now();
  testing::queue_gpu_work(0.5);
  buffer.mul_(3);
  comm.all_reduce_mean(buffer);
  comm.synchronize();
  const double waited = seconds_since(start);
  EXPECT_TRUE(compute.query()) << "synchronize() returned while the work that produced the "
                                  "buffer was still running";
  EXPECT_GE(waited, 0.4);
  EXPECT_LT(comm.all_reduce_seconds(), 0.2) << "the all-reduce's time includes the queued work";
  EXPECT_GT(comm.all_reduce_seconds(), 0);
  EXPECT_TRUE(torch::equal(buffer.cpu(), torch::full({1 << 16}, 3.0f)));
}

TEST_F(NcclTest, AllReduceSecondsAddUpAndBroadcastsAreNotCounted) {
  NcclCommunicator comm(MPI_COMM_SELF, cuda0_, /*timeout_s=*/60);
  EXPECT_EQ(comm.all_reduce_seconds(), 0);
  torch::Tensor buffer = torch::ones({1 << 20}, cuda0_);
  comm.broadcast(buffer, 0);
  comm.synchronize();
  EXPECT_EQ(comm.all_reduce_seconds(), 0);
  for (int i = 0; i < 3; ++i) comm.all_reduce_mean(buffer);  // no synchronize between: none lost
  comm.synchronize();
  const double last = comm.all_reduce_seconds();
  EXPECT_GT(last, 0);
  comm.all_reduce_mean(buffer);
  comm.synchronize();
  EXPECT_GT(comm.all_reduce_seconds(), last);
}

TEST_F(NcclTest, ReportsItself) {
  NcclCommunicator comm(MPI_COMM_SELF, cuda0_, /*timeout_s=*/60);
  EXPECT_EQ(comm.name(), "nccl");
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.world_size(), 1);
  EXPECT_EQ(nccl_library_version().rfind("2.", 0), 0u) << nccl_library_version();
}

TEST_F(NcclTest, AllReduceMeanOfOneRankIsTheBuffer) {
  NcclCommunicator comm(MPI_COMM_SELF, cuda0_, /*timeout_s=*/60);
  // Made by a kernel just before: the collective must wait for it on the GPU.
  torch::Tensor buffer = torch::tensor({0.5f, 1.0f, 1.5f}, cuda0_).mul(2);
  comm.all_reduce_mean(buffer);
  comm.synchronize();
  EXPECT_TRUE(torch::equal(buffer.cpu(), torch::tensor({1.0f, 2.0f, 3.0f})));
}

TEST_F(NcclTest, LaterTorchOpsSeeTheResultWithoutSynchronize) {
  NcclCommunicator comm(MPI_COMM_SELF, cuda0_, /*timeout_s=*/60);
  const int64_t n = 1 << 22;  // large enough that a missing wait would read a half-done buffer
  torch::Tensor buffer = torch::arange(n, torch::TensorOptions(cuda0_).dtype(torch::kDouble));
  comm.all_reduce_mean(buffer);
  const double total = buffer.sum().item<double>();  // on torch's stream, ordered after NCCL
  EXPECT_EQ(total, double(n - 1) * double(n) / 2);   // exact: integers below 2^53
  comm.synchronize();
}

TEST_F(NcclTest, BroadcastAndOtherTypes) {
  NcclCommunicator comm(MPI_COMM_SELF, cuda0_, /*timeout_s=*/60);
  torch::Tensor ints = torch::tensor({7, 8, 9}, torch::TensorOptions(cuda0_).dtype(torch::kLong));
  comm.broadcast(ints, /*root=*/0);
  torch::Tensor halves = torch::ones({5}, torch::TensorOptions(cuda0_).dtype(torch::kHalf));
  comm.all_reduce_mean(halves);
  comm.synchronize();
  comm.synchronize();  // nothing pending: returns at once
  EXPECT_TRUE(torch::equal(ints.cpu(), torch::tensor({7, 8, 9}, torch::kLong)));
  EXPECT_TRUE(torch::equal(halves.cpu(), torch::ones({5}, torch::kHalf)));
}

TEST_F(NcclTest, RejectsWrongBuffersAndRoots) {
  NcclCommunicator comm(MPI_COMM_SELF, cuda0_, /*timeout_s=*/60);
  torch::Tensor on_cpu = torch::ones({3});
  EXPECT_THROW(comm.all_reduce_mean(on_cpu), Error);
  torch::Tensor strided = torch::ones({4, 4}, cuda0_).t();
  EXPECT_THROW(comm.all_reduce_mean(strided), Error);
  torch::Tensor fine = torch::ones({3}, cuda0_);
  EXPECT_THROW(comm.broadcast(fine, /*root=*/1), Error);
  EXPECT_THROW(NcclCommunicator(MPI_COMM_SELF, torch::Device(torch::kCPU), 60), Error);
  // The checks come before any NCCL call: the communicator still works.
  comm.all_reduce_mean(fine);
  comm.synchronize();
}

TEST_F(NcclTest, ScalarsGoThroughMpi) {
  NcclCommunicator comm(MPI_COMM_SELF, cuda0_, /*timeout_s=*/60);
  EXPECT_EQ(comm.sum(int64_t{5}), 5);
  EXPECT_EQ(comm.max(int64_t{-2}), -2);
  EXPECT_DOUBLE_EQ(comm.sum(1.5), 1.5);
  EXPECT_EQ(comm.all_gather(uint64_t{42}), std::vector<uint64_t>{42});
  comm.barrier();
}

#else  // !VIT_WITH_CUDA

TEST(NcclTest, NeedsCuda) {
  if (std::getenv("VIT_REQUIRE_GPU") != nullptr) FAIL() << "built without CUDA (the GPU check)";
  GTEST_SKIP() << "built without CUDA";
}

#endif

}  // namespace
}  // namespace vit
