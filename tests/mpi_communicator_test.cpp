// Communicator (MPI back end) under mpiexec with 2 and 3 ranks: every collective against values
// that can be computed by hand.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <chrono>
#include <thread>

#include "parallel/mpi_communicator.h"

namespace vit {
namespace {

TEST(MpiCommunicator, RankAndSize) {
  MpiCommunicator comm(MPI_COMM_WORLD);
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(comm.world_size(), size);
  EXPECT_GE(comm.world_size(), 2) << "run this test under mpiexec -n 2 or more";
  EXPECT_EQ(comm.name(), "mpi");
}

TEST(MpiCommunicator, AllReduceMeanInPlace) {
  MpiCommunicator comm(MPI_COMM_WORLD);
  const int r = comm.rank(), n = comm.world_size();
  // Rank r holds (r, 10r, 100r + 1): the mean is ((n-1)/2) * (1, 10, 100) + (0, 0, 1).
  auto buffer = torch::tensor({1.0f, 10.0f, 100.0f}) * r + torch::tensor({0.0f, 0.0f, 1.0f});
  const auto* data = buffer.data_ptr<float>();
  comm.all_reduce_mean(buffer);
  EXPECT_EQ(buffer.data_ptr<float>(), data) << "not in place";
  const float m = (n - 1) / 2.0f;
  EXPECT_FLOAT_EQ(buffer[0].item<float>(), m);
  EXPECT_FLOAT_EQ(buffer[1].item<float>(), 10 * m);
  EXPECT_FLOAT_EQ(buffer[2].item<float>(), 100 * m + 1);
}

TEST(MpiCommunicator, AllReduceOfANonContiguousTensorIsStaged) {
  MpiCommunicator comm(MPI_COMM_WORLD);
  auto base = torch::full({4, 2}, static_cast<double>(comm.rank() + 1), torch::kFloat64);
  auto column = base.select(/*dim=*/1, /*index=*/0);  // a strided view
  comm.all_reduce_mean(column);
  const double mean = (comm.world_size() + 1) / 2.0;
  EXPECT_DOUBLE_EQ(base[3][0].item<double>(), mean);
  EXPECT_DOUBLE_EQ(base[3][1].item<double>(), comm.rank() + 1.0);  // untouched
}

TEST(MpiCommunicator, BroadcastFromEachRoot) {
  MpiCommunicator comm(MPI_COMM_WORLD);
  for (int root = 0; root < comm.world_size(); ++root) {
    auto buffer = torch::arange(5, torch::kFloat32) + 100 * comm.rank();
    comm.broadcast(buffer, root);
    EXPECT_TRUE(torch::equal(buffer, torch::arange(5, torch::kFloat32) + 100 * root)) << root;
  }
}

TEST(MpiCommunicator, ScalarReductionsAndGather) {
  MpiCommunicator comm(MPI_COMM_WORLD);
  const int r = comm.rank(), n = comm.world_size();
  EXPECT_DOUBLE_EQ(comm.sum(0.5 + r), 0.5 * n + n * (n - 1) / 2.0);
  EXPECT_EQ(comm.sum(int64_t{1} << (40 + r)), ((int64_t{1} << n) - 1) << 40);  // beyond 32 bits
  EXPECT_EQ(comm.max(int64_t{7} * r - 3), int64_t{7} * (n - 1) - 3);
  const auto gathered = comm.all_gather(1000u + static_cast<uint64_t>(r));
  ASSERT_EQ(gathered.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(gathered[static_cast<size_t>(i)], 1000u + i);
  comm.barrier();
}

// all_reduce_seconds counts the all-reduce (including the wait for a slower rank), nothing else.
TEST(MpiCommunicator, AllReduceSecondsCountTheAllReduceOnly) {
  MpiCommunicator comm(MPI_COMM_WORLD);
  EXPECT_EQ(comm.all_reduce_seconds(), 0);
  auto buffer = torch::ones({1000});
  comm.broadcast(buffer, /*root=*/0);
  comm.barrier();
  EXPECT_EQ(comm.all_reduce_seconds(), 0);
  comm.barrier();
  if (comm.rank() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  comm.all_reduce_mean(buffer);
  if (comm.rank() == 0) {
    EXPECT_GE(comm.all_reduce_seconds(), 0.2);  // waited for rank 1
  }
  EXPECT_GT(comm.all_reduce_seconds(), 0);
}

TEST(MpiCommunicator, SelfIsAWorldOfOne) {
  MpiCommunicator self(MPI_COMM_SELF);
  EXPECT_EQ(self.world_size(), 1);
  auto buffer = torch::tensor({3.0f});
  self.all_reduce_mean(buffer);
  EXPECT_FLOAT_EQ(buffer.item<float>(), 3.0f);
  EXPECT_EQ(self.sum(int64_t{4}), 4);
}

}  // namespace
}  // namespace vit
