#include "train/graph_step.h"

#include <ATen/cuda/CUDAEvent.h>            // at::cuda::CUDAEvent: stream-to-stream ordering
#include <c10/cuda/CUDACachingAllocator.h>  // recordStream
#include <c10/cuda/CUDAGuard.h>             // c10::cuda::CUDAStreamGuard
#include <spdlog/spdlog.h>
#include <torch/version.h>                  // TORCH_VERSION_*: which allocator API exists

// LibTorch 2.11's capture routes allocations to the graph's pool through these calls (1.13, whose
// headers the CPU build checks this file against, had notifyCapture* instead).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 11)
#define VIT_TORCH_ALLOCATES_TO_POOLS 1
#include <ATen/core/CachingHostAllocator.h>  // at::getHostAllocator: pinned host memory's pools
#else
#define VIT_TORCH_ALLOCATES_TO_POOLS 0
#endif

#include <utility>

#include "util/error.h"

namespace vit {

GraphStep::GraphStep(torch::Device device, int64_t samples, Body body)
    : device_(device),
      samples_(samples),
      body_(std::move(body)),
      stream_(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index())),
      indices_(torch::zeros({samples}, torch::TensorOptions().dtype(torch::kLong).device(device))) {
  VIT_CHECK(device.is_cuda(), "train.cuda_graph: the step runs on ", device.str(), ", not a GPU");
  VIT_CHECK(samples > 0, "train.cuda_graph: a step of ", samples, " samples");
}

torch::Tensor GraphStep::run(const torch::Tensor& indices) {
  VIT_CHECK(indices.numel() == samples_ && indices.device() == device_,
            "train.cuda_graph: a step of ", indices.numel(), " samples on ", indices.device().str(),
            ", the graph takes ", samples_, " on ", device_.str());
  const c10::cuda::CUDAStream caller = c10::cuda::getCurrentCUDAStream(device_.index());
  inputs_ready_.record(caller);  // (the learning rate, the indices, the last step's readers)
  inputs_ready_.block(stream_);
  torch::Tensor loss;  // on stream_
  {
    c10::cuda::CUDAStreamGuard on_graph_stream(stream_);
    indices_.copy_(indices);
    if (calls_ < kWarmupSteps) {
      loss = body_(indices_);
    } else {
      if (!captured_) {
        capture();
        captured_ = true;
        spdlog::info(
            "train.cuda_graph: step captured after {} eager steps; it replays from "
            "here (all-reduce time is not measured while it does)",
            kWarmupSteps);
      }
      graph_.replay();
      loss = loss_;
    }
  }
  ++calls_;
  step_done_.record(stream_);
  step_done_.block(caller);
  // The caller's copy, made on its stream: the next replay overwrites loss_. `indices` was read
  // on stream_: its memory must not be reused before stream_ is past it.
  c10::cuda::CUDACachingAllocator::recordStream(indices.storage().data_ptr(), stream_);
  if (!captured_) {
    // A warm-up step's loss, made on stream_, is read by the clone on the caller's stream.
    c10::cuda::CUDACachingAllocator::recordStream(loss.storage().data_ptr(), caller);
  }
  return loss.clone();
}

void GraphStep::capture() {
  // The graph's memory pool, named here so that a failed capture can hand it back: CUDAGraph
  // releases its pool only after a capture that ended.
  const Pool pool = at::cuda::graph_pool_handle();
  graph_.capture_begin(pool);
  try {
    loss_ = body_(indices_);
  } catch (...) {
    abandon_capture(pool);
    throw;
  }
  graph_.capture_end();
}

void GraphStep::abandon_capture(const Pool& pool) noexcept {
  // Leave no stream in capture mode behind the error (later CUDA calls would fail with a
  // message that hides it): end the capture and drop the partial graph.
  cudaGraph_t partial = nullptr;
  (void)cudaStreamEndCapture(stream_.stream(), &partial);
  if (partial != nullptr) (void)cudaGraphDestroy(partial);
  (void)cudaGetLastError();
#if VIT_TORCH_ALLOCATES_TO_POOLS
  // capture_begin told the caching allocators to serve the capturing stream from the graph's
  // pool; capture_end would have stopped that. Stop it and free the pool here, or the stream's
  // later allocations would come from the pool of a graph that never existed. (Each call may find
  // nothing to undo in a LibTorch that did not start it: ignored.)
  const c10::DeviceIndex device = device_.index();
  try {
    c10::cuda::CUDACachingAllocator::endAllocateToPool(device, pool);
    c10::cuda::CUDACachingAllocator::releasePool(device, pool);
  } catch (...) {
  }
  try {
    at::getHostAllocator(at::kCUDA)->end_allocate_to_pool(pool);
    at::getHostAllocator(at::kCUDA)->release_pool(pool);
  } catch (...) {
  }
#else
  (void)pool;  // LibTorch before 2.11: never run (our CUDA builds use 2.11), only compiled
#endif
}

}  // namespace vit
