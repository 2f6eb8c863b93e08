#include "parallel/placement.h"

#include <spdlog/spdlog.h>

#include <map>
#include <utility>

#include "parallel/mpi_communicator.h"
#include "parallel/rank_agreement.h"
#include "util/error.h"
#ifdef VIT_WITH_CUDA
#include <cuda_runtime_api.h>  // cudaDeviceGetPCIBusId

#include "parallel/nccl_communicator.h"
#endif

namespace vit {
namespace {

#ifdef VIT_WITH_CUDA
constexpr bool kNcclBuilt = true;

std::string bus_id(int index) {
  char id[32] = {};
  const cudaError_t result = cudaDeviceGetPCIBusId(id, sizeof(id), index);
  VIT_CHECK(result == cudaSuccess, "cuda:", index,
            ": cudaDeviceGetPCIBusId failed: ", cudaGetErrorString(result));
  return id;
}
#else
constexpr bool kNcclBuilt = false;

std::string bus_id(int) { return ""; }
#endif

// "ranks 2, 3 on host b, rank 6 on host c" (at most 8 ranks named, then how many more).
std::string name_ranks(const std::vector<int>& ranks, const std::vector<RankSite>& sites) {
  constexpr size_t kNamed = 8;
  std::string text;
  std::string host;
  size_t in_group = 0;
  for (size_t i = 0; i < ranks.size() && i < kNamed; ++i) {
    const RankSite& site = sites[static_cast<size_t>(ranks[i])];
    if (i == 0 || site.host != host) {
      if (i > 0) text += " on host " + host + ", ";
      host = site.host;
      in_group = 0;
    }
    text += (in_group++ > 0 ? ", " : "") + std::to_string(ranks[i]);
  }
  text += " on host " + host;
  if (ranks.size() > kNamed) text += " and " + std::to_string(ranks.size() - kNamed) + " more";
  return (ranks.size() == 1 ? "rank " : "ranks ") + text;
}

// Groups of ranks that share one GPU (same host, same bus id), each listed in rank order.
std::vector<std::vector<int>> shared_gpus(const std::vector<RankSite>& sites) {
  std::map<std::pair<std::string, std::string>, std::vector<int>> by_gpu;
  for (size_t r = 0; r < sites.size(); ++r) {
    if (!sites[r].gpu_bus_id.empty()) {
      by_gpu[{sites[r].host, sites[r].gpu_bus_id}].push_back(static_cast<int>(r));
    }
  }
  std::vector<std::vector<int>> shared;
  for (auto& [gpu, ranks] : by_gpu) {
    if (ranks.size() > 1) shared.push_back(std::move(ranks));
  }
  return shared;
}

std::string describe_sharing(const std::vector<std::vector<int>>& shared,
                             const std::vector<RankSite>& sites) {
  const std::vector<int>& first = shared.front();
  std::string text = name_ranks(first, sites) + " share the GPU " +
                     sites[static_cast<size_t>(first.front())].gpu_bus_id;
  if (shared.size() > 1) text += " (and " + std::to_string(shared.size() - 1) + " more GPU(s) shared)";
  return text;
}

}  // namespace

int gpu_index(const DeviceSetting& device, int local_rank, int gpus) {
  if (device.first_gpu < 0) return local_rank % gpus;
  const int index = device.first_gpu + local_rank;
  VIT_CHECK(index < gpus, "dist.device ", to_string(device), ": local rank ", local_rank,
            " would train on GPU ", index, ", but this machine shows ", gpus, " GPU(s), 0 to ",
            gpus - 1, " (CUDA_VISIBLE_DEVICES renumbers them from 0)");
  return index;
}

RankSite local_site(const DistConfig& config, const std::string& host, int local_rank) {
  RankSite site{host, "cpu", ""};
  if (config.device.kind == DeviceKind::kCpu) return site;
  const int gpus = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  if (gpus == 0) return site;  // dist.device cuda: plan_backend names every rank without one
  const int index = gpu_index(config.device, local_rank, gpus);
  site.device = "cuda:" + std::to_string(index);
  site.gpu_bus_id = bus_id(index);
  return site;
}

BackendChoice plan_backend(const DistConfig& config, const std::vector<RankSite>& sites,
                           bool nccl_built, std::string* warning) {
  std::vector<int> on_cpu, on_gpu;
  for (size_t r = 0; r < sites.size(); ++r) {
    (sites[r].gpu_bus_id.empty() ? on_cpu : on_gpu).push_back(static_cast<int>(r));
  }
  VIT_CHECK(config.device.kind != DeviceKind::kCuda || on_cpu.empty(), "dist.device ",
            to_string(config.device), ": ", name_ranks(on_cpu, sites),
            on_cpu.size() == 1 ? " sees" : " see",
            " no usable GPU (LibTorch without CUDA, or no GPU visible); use dist.device auto or cpu");
  VIT_CHECK(on_cpu.empty() || on_gpu.empty(), "dist.device ", to_string(config.device), ": ",
            name_ranks(on_cpu, sites), " would train on the CPU and ", name_ranks(on_gpu, sites),
            " on GPUs, whose collectives do not match; run every rank where a GPU is, or set "
            "dist.device cpu");

  if (on_gpu.empty()) {  // every rank on the CPU
    VIT_CHECK(config.backend != BackendChoice::kNccl,
              nccl_built ? "dist.backend nccl needs a GPU per rank, but the ranks train on the CPU; "
                           "use dist.backend auto or mpi"
                         : "dist.backend nccl is not built in (LibTorch without CUDA); use "
                           "dist.backend auto or mpi");
    return BackendChoice::kMpi;
  }
  if (config.backend == BackendChoice::kMpi) return BackendChoice::kMpi;
  const auto shared = shared_gpus(sites);
  if (shared.empty()) {
    VIT_CHECK(nccl_built, "dist.backend ", to_string(config.backend), ": NCCL is not built in");
    return BackendChoice::kNccl;
  }
  VIT_CHECK(config.backend != BackendChoice::kNccl, "dist.backend nccl: ", describe_sharing(shared, sites),
            "; NCCL needs one rank per GPU: start at most as many ranks per machine as it has "
            "GPUs, or use dist.backend auto (gradients through MPI) or mpi");
  if (warning != nullptr) {
    *warning = describe_sharing(shared, sites) +
               ": gradients go through MPI and the host, not NCCL (which needs one rank per GPU; "
               "start at most as many ranks per machine as it has GPUs for NCCL)";
  }
  return BackendChoice::kMpi;
}

Placement place_ranks(const DistConfig& config, const MpiContext& mpi) {
  // A rank that cannot even look at its GPU still takes part in the gather, with its error, so
  // that every rank throws the same error and none waits for it.
  std::string mine;
  try {
    const RankSite site = local_site(config, mpi.host(), mpi.local_rank());
    mine = site.host + '\t' + site.device + '\t' + site.gpu_bus_id;
  } catch (const std::exception& e) {
    mine = "\terror\t" + describe_error(e);
  }
  Placement placement;
  const std::vector<std::string> all = mpi.all_gather(mine);
  for (size_t r = 0; r < all.size(); ++r) {
    const std::string& text = all[r];
    const size_t a = text.find('\t'), b = text.find('\t', a + 1);
    VIT_CHECK(a != std::string::npos && b != std::string::npos, "placement: rank ", r,
              "'s site '", text, "' is garbled (a host name of over 200 characters?)");
    const std::string device = text.substr(a + 1, b - a - 1);
    VIT_CHECK(device != "error", "rank ", r, ": ", text.substr(b + 1));
    placement.sites.push_back({text.substr(0, a), device, text.substr(b + 1)});
  }
  placement.device = torch::Device(placement.sites[static_cast<size_t>(mpi.rank())].device);
  placement.backend = plan_backend(config, placement.sites, kNcclBuilt, &placement.warning);
  return placement;
}

bool agree_on_placement(const DistConfig& config, const MpiContext& mpi, Placement& placement) {
  if (!succeeded_on_all_ranks(mpi.rank(), [&] { placement = place_ranks(config, mpi); })) {
    return false;
  }
  if (mpi.rank() == 0 && !placement.warning.empty()) spdlog::warn("{}", placement.warning);
  return true;
}

std::string cuda_runtime_version() {
#ifdef VIT_WITH_CUDA
  int runtime = 0;
  if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) return "unknown";
  return std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10);
#else
  return "";
#endif
}

std::unique_ptr<Communicator> make_communicator(const Placement& placement,
                                                const DistConfig& config, MPI_Comm comm) {
#ifdef VIT_WITH_CUDA
  if (placement.backend == BackendChoice::kNccl) {
    return std::make_unique<NcclCommunicator>(comm, placement.device, config.timeout_s);
  }
#endif
  VIT_CHECK(placement.backend == BackendChoice::kMpi, "placement: back end '",
            to_string(placement.backend),
            "' is not built in");
  return std::make_unique<MpiCommunicator>(comm, config.timeout_s);
}

}  // namespace vit
