// parallel/replicas: broadcast_module's collective calls, seen through a communicator that records
// them (the MPI test trainer_mpi_test checks the broadcast's content on real ranks).
#include "parallel/replicas.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "parallel/communicator.h"
#include "util/error.h"

namespace vit {
namespace {

// Rank 0 of a pretend world of two: records each call; broadcast leaves the buffer as it is.
class RecordingCommunicator : public Communicator {
 public:
  std::vector<std::string> calls;
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  std::string name() const override { return "recording"; }
  void all_reduce_mean(torch::Tensor&) override { calls.push_back("all_reduce_mean"); }
  double all_reduce_seconds() override { return 0; }
  void broadcast(torch::Tensor&, int root) override {
    calls.push_back("broadcast from " + std::to_string(root));
  }
  double sum(double value) override { return value; }
  int64_t sum(int64_t value) override { return value; }
  int64_t max(int64_t value) override { return value; }
  std::vector<uint64_t> all_gather(uint64_t value) override { return {value, value}; }
  void barrier() override { calls.push_back("barrier"); }
  void synchronize() override { calls.push_back("synchronize"); }
};

TEST(FlattenState, RoundTripKeepsTheDtypeAndRefusesMixedOnes) {
  torch::nn::Linear a(3, 2), b(3, 2);
  auto pa = a->parameters(), pb = b->parameters();
  const auto flat = flatten_state(pa);
  EXPECT_EQ(flat.numel(), 8);
  EXPECT_EQ(flat.scalar_type(), torch::kFloat32);
  unflatten_state(flat, pb);
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
  const std::vector<torch::Tensor> doubles = {torch::ones({2}, torch::kFloat64)};
  EXPECT_EQ(flatten_state(doubles).scalar_type(), torch::kFloat64);  // not cast to float32
  const std::vector<torch::Tensor> mixed = {torch::ones({2}), torch::ones({2}, torch::kLong)};
  EXPECT_THROW(flatten_state(mixed), Error);
}

// The start-up broadcast of rank 0's parameters is waited for with the communicator's deadline
// (NCCL's dist.timeout_s lives in synchronize()): without the wait, a stuck start-up hung forever
// in the first copy of a parameter to the host.
TEST(BroadcastModule, WaitsForTheBroadcastWithTheCommunicatorsDeadline) {
  torch::nn::Linear layer(3, 2);
  RecordingCommunicator comm;
  broadcast_module(*layer, comm);
  EXPECT_EQ(comm.calls, (std::vector<std::string>{"broadcast from 0", "synchronize"}));
}

}  // namespace
}  // namespace vit
