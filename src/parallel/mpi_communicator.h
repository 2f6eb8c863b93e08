// MpiCommunicator: the Communicator over an MPI communicator (MPI_COMM_WORLD for training,
// MPI_COMM_SELF for a one-rank reference in tests). Reduces CPU tensors in place with
// MPI_Allreduce; tensors on another device are staged through a host copy.
#pragma once

#include <mpi.h>

#include <memory>

#include "parallel/communicator.h"
#include "parallel/peer_probe.h"
#include "parallel/watchdog.h"

namespace vit {

class MpiCommunicator : public Communicator {
 public:
  // `comm` is borrowed, not freed: it must outlive this object. A collective that takes longer
  // than `timeout_s` (> 0) ends the process with one error line naming the ranks that do not
  // answer (parallel/watchdog.h, parallel/peer_probe.h).
  explicit MpiCommunicator(MPI_Comm comm, double timeout_s = 0);

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  std::string name() const override { return "mpi"; }

  void all_reduce_mean(torch::Tensor& buffer) override;
  double all_reduce_seconds() override { return all_reduce_s_; }
  void broadcast(torch::Tensor& buffer, int root) override;
  double sum(double value) override;
  int64_t sum(int64_t value) override;
  int64_t max(int64_t value) override;
  std::vector<uint64_t> all_gather(uint64_t value) override;
  void barrier() override;

 private:
  Watchdog::Armed guard(const char* what);

  MPI_Comm comm_;
  int rank_ = 0;
  std::unique_ptr<PeerProbe> probe_;    // names the ranks that do not answer
  std::unique_ptr<Watchdog> watchdog_;  // after probe_: its thread uses probe_
  int world_size_ = 1;
  double all_reduce_s_ = 0;
};

}  // namespace vit
