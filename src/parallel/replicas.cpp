#include "parallel/replicas.h"

#include "util/crc32.h"
#include "util/error.h"

namespace vit {
namespace {

std::vector<torch::Tensor> state_tensors(const torch::nn::Module& module) {
  auto tensors = module.parameters();
  for (const auto& b : module.buffers()) tensors.push_back(b);
  return tensors;
}

}  // namespace

torch::Tensor flatten_state(const std::vector<torch::Tensor>& tensors) {
  VIT_CHECK(!tensors.empty(), "flatten_state: no tensors");
  std::vector<torch::Tensor> flat;
  flat.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    VIT_CHECK(tensors[i].scalar_type() == tensors[0].scalar_type(), "flatten_state: tensor ", i,
              " is ", tensors[i].scalar_type(), ", tensor 0 ", tensors[0].scalar_type());
    flat.push_back(tensors[i].detach().reshape({-1}));
  }
  return torch::cat(flat);
}

void unflatten_state(const torch::Tensor& flat, std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (auto& t : tensors) {
    t.copy_(flat.narrow(/*dim=*/0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
  VIT_CHECK(offset == flat.numel(), "unflatten_state: sizes do not add up");
}

void broadcast_module(torch::nn::Module& module, Communicator& comm) {
  if (comm.world_size() == 1) return;
  auto tensors = state_tensors(module);
  auto flat = flatten_state(tensors);
  comm.broadcast(flat, /*root=*/0);
  // Waited for with the communicator's deadline (NCCL: dist.timeout_s), so that a stuck start-up
  // ends in an error naming the timeout instead of hanging in the first copy to the host.
  comm.synchronize();
  unflatten_state(flat, tensors);
}

uint64_t state_checksum(const torch::nn::Module& module) {
  uint32_t crc = 0;
  for (const auto& t : state_tensors(module)) {
    const auto host = t.detach().to(torch::kCPU).contiguous();
    crc = crc32_bytes(host.data_ptr(), static_cast<size_t>(host.numel()) * host.element_size(),
                      crc);
  }
  return crc;
}

void check_replicas(const torch::nn::Module& module, Communicator& comm, const std::string& when) {
  const auto sums = comm.all_gather(state_checksum(module));
  std::string differing;
  for (size_t r = 1; r < sums.size(); ++r) {
    if (sums[r] != sums[0]) differing += (differing.empty() ? "" : ", ") + std::to_string(r);
  }
  VIT_CHECK(differing.empty(), "replica check ", when, ": parameters of rank(s) ", differing,
            " differ from rank 0's (dist.debug)");
}

}  // namespace vit
