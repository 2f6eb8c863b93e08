// dist/replicas: broadcast_module's collective calls, seen through a communicator that records
// them (the MPI test distributed_test checks the broadcast's content on real ranks).
#include "dist/replicas.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dist/communicator.h"

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
