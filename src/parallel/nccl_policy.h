// How the NCCL back end is set up for a world of a given size, decided apart from NCCL itself so
// that a CPU build can test it: whether the communicator blocks, and whether a training step that
// all-reduces through it may be captured in a CUDA graph (train.cuda_graph).
#pragma once

#include <string>

namespace vit {

// Blocking communicators for a world of one: there is no peer to wait for, so the deadlines that
// non-blocking mode exists for guard nothing, and a blocking communicator is the one a CUDA graph
// capture is known to work with (NCCL's own thread never enqueues into the capturing stream).
// Larger worlds are non-blocking: init and enqueue are polled against dist.timeout_s.
bool nccl_blocking(int world_size);

// Why a step that all-reduces through NCCL across `world_size` ranks must not be captured, or ""
// where it may be. A captured all-reduce of a non-blocking communicator across several GPUs has
// never run (the machines lent to us have one GPU), so those steps run eagerly until it has.
std::string nccl_capture_obstacle(int world_size);

}  // namespace vit
