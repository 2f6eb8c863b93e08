// NcclCommunicator: the Communicator for CUDA tensors (GPU builds only). The gradient all-reduce
// and broadcasts run as NCCL collectives on a CUDA stream of their own, ordered after the compute
// stream by events, so the host never waits for them. synchronize() waits with a deadline and
// aborts the NCCL communicator when a peer rank died or hangs: a failure ends in a vit::Error, not
// in a hang. Host scalars, all_gather and barriers go through MPI on the same ranks.
#pragma once

#include <c10/cuda/CUDAStream.h>  // c10::cuda::CUDAStream: torch's stream pool
#include <cuda_runtime_api.h>     // cudaEvent_t
#include <mpi.h>
#include <nccl.h>  // ncclComm_t

#include <memory>
#include <string>
#include <type_traits>

#include "parallel/communicator.h"
#include "parallel/mpi_communicator.h"
#include "parallel/nccl_policy.h"
#include "parallel/peer_probe.h"

namespace vit {

// The NCCL library linked at run time, e.g. "2.28.9".
std::string nccl_library_version();

class NcclCommunicator : public Communicator {
 public:
  // Collective over `comm` (borrowed: it must outlive this object); each rank passes its own CUDA
  // device. Creating the NCCL communicator and synchronize() give up after `timeout_s` seconds.
  NcclCommunicator(MPI_Comm comm, torch::Device device, double timeout_s);
  // Destroys the NCCL communicator cleanly, or aborts it when it failed or an exception is in
  // flight (a clean destroy would wait for peers that may be gone).
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return mpi_.rank(); }
  int world_size() const override { return mpi_.world_size(); }
  std::string name() const override { return "nccl"; }

  // Both enqueue the collective and return without waiting for it: the current torch stream waits
  // for the result on the GPU, so later torch ops see it. `buffer`: contiguous, on this device.
  void all_reduce_mean(torch::Tensor& buffer) override;
  void broadcast(torch::Tensor& buffer, int root) override;
  // CUDA graphs: the all-reduce straight on the current (capturing) stream, which NCCL supports
  // with a blocking communicator; no events, no timing. synchronize() then waits for the current
  // stream as well. Only a world of one is captured (parallel/nccl_policy.h says why).
  std::string capture_obstacle() const override { return nccl_capture_obstacle(world_size()); }
  void all_reduce_mean_captured(torch::Tensor& buffer) override;
  // Timed on the GPU: CUDA events on stream_ just before and after each all-reduce, read once
  // they are complete (at synchronize(), or at the next all-reduce).
  double all_reduce_seconds() override;

  double sum(double value) override { return mpi_.sum(value); }
  int64_t sum(int64_t value) override { return mpi_.sum(value); }
  int64_t max(int64_t value) override { return mpi_.max(value); }
  std::vector<uint64_t> all_gather(uint64_t value) override { return mpi_.all_gather(value); }
  void barrier() override { mpi_.barrier(); }

  // Blocks the host until every collective enqueued so far has completed. After `timeout_s`
  // seconds, or on an asynchronous NCCL error, aborts the communicator and throws vit::Error.
  void synchronize() override;

 private:
  struct EventDeleter {
    void operator()(cudaEvent_t event) const;
  };
  using Event = std::unique_ptr<std::remove_pointer_t<cudaEvent_t>, EventDeleter>;

  Event make_event(bool timing = false) const;
  // Adds the last all-reduce's GPU time to all_reduce_s_ once its events are complete; with
  // `wait`, waits for them first (through synchronize(), so with the deadline).
  void collect_timing(bool wait);
  void check_tensor(const torch::Tensor& buffer, const char* op) const;
  // Runs `enqueue` (the NCCL call `call`, inside one group) on stream_, between the compute
  // stream's events as described above all_reduce_mean; `timed`: between started_ and ended_.
  template <typename Enqueue>
  void run(const char* op, const char* call, torch::Tensor& buffer, bool timed, Enqueue enqueue);
  // Polls the communicator until it leaves ncclInProgress (non-blocking init and enqueue).
  void wait_until_ready(const char* op);
  // One look at the communicator's state: true when idle, false while in progress; throws
  // (after aborting) on an asynchronous error.
  bool comm_idle(const char* op);
  [[noreturn]] void fail_timeout(const char* op);
  void check_nccl(ncclResult_t result, const char* call);
  void check_cuda(cudaError_t result, const char* call);
  // Aborts comm_ (once) and throws `message` prefixed with this rank (a PeerLostError when
  // `peer_lost`: another rank stopped answering); later calls throw too.
  [[noreturn]] void abort_and_fail(const std::string& message, bool peer_lost = false);

  MpiCommunicator mpi_;
  PeerProbe probe_;  // names the ranks that do not answer when a collective times out
  torch::Device device_;
  double timeout_s_;
  c10::cuda::CUDAStream stream_;  // where the collectives run
  Event ready_;                   // recorded on the compute stream: the input is ready
  Event done_;                    // recorded on stream_: the collectives so far are done
  Event started_;                 // timing: recorded on stream_ as the all-reduce starts ...
  Event ended_;                   // ... and as it ends
  bool timing_pending_ = false;   // started_/ended_ hold an all-reduce not yet counted
  bool captured_ = false;         // all-reduces run in the compute stream (graph replays)
  double all_reduce_s_ = 0;
  ncclComm_t comm_ = nullptr;
  const char* last_op_ = "collective";  // names the pending operation in timeout messages
  std::string failure_;                 // set once comm_ was aborted
};

}  // namespace vit
