// Communicator: what the trainer needs from the other ranks. Two back ends implement it: MPI
// (CPU tensors; GPU tensors are staged through the host) and NCCL (GPU tensors, GPU builds only).
// Every call is collective: all ranks make the same calls in the same order.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "util/error.h"

namespace vit {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string name() const = 0;  // "mpi" or "nccl", for the log

  // Replaces `buffer` (one contiguous tensor) by its element-wise mean over the ranks, in place.
  // This is the one gradient all-reduce of a training step.
  virtual void all_reduce_mean(torch::Tensor& buffer) = 0;

  // CUDA graphs (train.cuda_graph): why a step that all-reduces through this back end must not
  // be captured, or "" when all_reduce_mean_captured() may be used.
  virtual std::string capture_obstacle() const {
    return "the " + name() + " back end cannot take part in a CUDA graph (one rank or NCCL can)";
  }
  // all_reduce_mean() for a step captured in a CUDA graph: enqueued on the current CUDA stream
  // with nothing the host waits for or times (a capture records it, each replay runs it), so the
  // all-reduce share is not measured. synchronize() still waits for it.
  virtual void all_reduce_mean_captured(torch::Tensor& /*buffer*/) {
    VIT_FAIL("the ", name(), " back end cannot take part in a CUDA graph");
  }

  // Replaces every rank's `buffer` by the one of rank `root`, in place.
  virtual void broadcast(torch::Tensor& buffer, int root) = 0;

  // Host scalars: sums and maxima over the ranks, returned on every rank.
  virtual double sum(double value) = 0;
  virtual int64_t sum(int64_t value) = 0;
  virtual int64_t max(int64_t value) = 0;

  // Every rank's value, indexed by rank.
  virtual std::vector<uint64_t> all_gather(uint64_t value) = 0;

  virtual void barrier() = 0;

  // Seconds spent in all_reduce_mean so far, counted from when its input was ready to when its
  // result was: the collective, not the backward pass queued before it. The NCCL back end times
  // it on the GPU (CUDA events around the collective on its stream); the MPI back end on the host
  // clock, after waiting for a GPU input to be computed (the staging copies are counted: they are
  // part of what this back end costs). Up to date after synchronize().
  virtual double all_reduce_seconds() = 0;

  // Blocks the host until the collectives enqueued so far are complete. A no-op for back ends
  // whose calls complete before they return (MPI); NCCL enforces dist.timeout_s here.
  virtual void synchronize() {}
};

}  // namespace vit
