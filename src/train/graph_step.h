// GraphStep: a training step captured once as a CUDA graph and replayed (train.cuda_graph; GPU
// builds only). The seed model's step is a few hundred kernels of a few microseconds each, so an
// eager step waits on the host that launches them; a replay launches the whole step (forward,
// backward, the NCCL all-reduce, the optimizer) as one graph.
//
// The step's inputs and outputs live at fixed addresses, as replays require: the step's sample
// indices are copied into a buffer of the graph's own before each replay, the model's
// parameters, the flat gradient buffer and the optimizer's flat buffers and device scalars (see
// FusedOptimizer::use_device_scalars) never move, and the loss is a tensor of the graph's memory
// pool, copied out after each replay. The first kWarmupSteps calls run the step eagerly on the
// graph's stream (lazy initialisation of libraries, the caching allocator's pools), the next one
// captures it and then replays it, as PyTorch's documentation recommends.
#pragma once

#include <ATen/cuda/CUDAEvent.h>  // at::cuda::CUDAEvent: ordering between the two streams
#include <ATen/cuda/CUDAGraph.h>  // at::cuda::CUDAGraph
#include <c10/cuda/CUDAStream.h>  // c10::cuda::CUDAStream
#include <torch/torch.h>

#include <cstdint>
#include <functional>

namespace vit {

class GraphStep {
 public:
  static constexpr int kWarmupSteps = 3;

  // `body(indices)` enqueues one whole step on the current stream for the `samples` indices in
  // `indices` (int64, on `device`) and returns the step's loss sum (a device tensor); it must
  // neither read values back to the host nor allocate host-visible state per call.
  using Body = std::function<torch::Tensor(const torch::Tensor& indices)>;
  GraphStep(torch::Device device, int64_t samples, Body body);

  // One step for `indices` (`samples` long, on the device), ordered after the work already on the
  // current stream, and the work enqueued later after it. Returns its loss sum (a new tensor).
  torch::Tensor run(const torch::Tensor& indices);

  int64_t samples() const { return samples_; }
  bool captured() const { return captured_; }

 private:
  void capture();  // the body, captured into graph_ (loss_ its output)
  // After the body threw during capture: ends the capture, drops the partial graph and gives the
  // caching allocators' routing to `pool` back, so the process can go on using the GPU.
  using Pool = decltype(at::cuda::graph_pool_handle());  // (its type's home moved between versions)
  void abandon_capture(const Pool& pool) noexcept;

  torch::Device device_;
  int64_t samples_;
  Body body_;
  c10::cuda::CUDAStream stream_;  // capture needs a stream other than the default one
  at::cuda::CUDAGraph graph_;
  at::cuda::CUDAEvent inputs_ready_;  // recorded on the caller's stream, waited for by stream_
  at::cuda::CUDAEvent step_done_;     // and back
  torch::Tensor indices_;             // the graph's input
  torch::Tensor loss_;                // the graph's output (its memory pool)
  int calls_ = 0;
  bool captured_ = false;
};

}  // namespace vit
