#include "parallel/nccl_policy.h"

namespace vit {

bool nccl_blocking(int world_size) { return world_size == 1; }

std::string nccl_capture_obstacle(int world_size) {
  if (world_size == 1) return "";
  return "the nccl back end with " + std::to_string(world_size) +
         " ranks is not captured (a CUDA graph of a multi-GPU all-reduce through a non-blocking "
         "communicator is not proven yet)";
}

}  // namespace vit
