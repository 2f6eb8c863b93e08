// SoloCommunicator: a world of one rank without MPI, for single-process tools and unit tests.
// Every collective is the identity.
#pragma once

#include "parallel/communicator.h"

namespace vit {

class SoloCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string name() const override { return "solo"; }
  void all_reduce_mean(torch::Tensor&) override {}
  std::string capture_obstacle() const override { return ""; }
  void all_reduce_mean_captured(torch::Tensor&) override {}
  double all_reduce_seconds() override { return 0; }
  void broadcast(torch::Tensor&, int) override {}
  double sum(double value) override { return value; }
  int64_t sum(int64_t value) override { return value; }
  int64_t max(int64_t value) override { return value; }
  std::vector<uint64_t> all_gather(uint64_t value) override { return {value}; }
  void barrier() override {}
};

}  // namespace vit
