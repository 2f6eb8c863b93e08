// The placement decision (parallel/placement): one device kind and one back end for all ranks, from the
// sites the ranks gathered; errors name the ranks. Sites are made up here, so GPU machines with
// shared and mixed GPUs are tested on a CPU.
#include "parallel/placement.h"

#include <gtest/gtest.h>

#include "util/error.h"

namespace vit {
namespace {

RankSite cpu(const std::string& host) { return {host, "cpu", ""}; }
RankSite gpu(const std::string& host, int index, const std::string& bus) {
  return {host, "cuda:" + std::to_string(index), bus};
}

DistConfig dist(const std::string& device, const std::string& backend) {
  DistConfig config;
  config.device = *parse_device(device);
  config.backend = *parse_choice<BackendChoice>(backend);
  return config;
}

// The error text of plan_backend, or "" when it succeeds.
std::string error_of(const DistConfig& config, const std::vector<RankSite>& sites,
                     bool nccl_built = true) {
  try {
    plan_backend(config, sites, nccl_built, nullptr);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Placement, CpuRanksUseMpi) {
  std::string warning;
  EXPECT_EQ(to_string(plan_backend(dist("auto", "auto"), {cpu("a"), cpu("a")}, false, &warning)),
            "mpi");
  EXPECT_EQ(to_string(plan_backend(dist("cpu", "mpi"), {cpu("a")}, true, &warning)), "mpi");
  EXPECT_EQ(warning, "");
}

TEST(Placement, OneRankPerGpuUsesNccl) {
  std::string warning;
  // Same bus id on different hosts is no sharing; two GPUs on one host are two GPUs.
  const std::vector<RankSite> sites = {gpu("a", 0, "0000:17:00.0"), gpu("a", 1, "0000:65:00.0"),
                                       gpu("b", 0, "0000:17:00.0")};
  EXPECT_EQ(to_string(plan_backend(dist("auto", "auto"), sites, true, &warning)), "nccl");
  EXPECT_EQ(to_string(plan_backend(dist("cuda", "nccl"), sites, true, &warning)), "nccl");
  EXPECT_EQ(to_string(plan_backend(dist("auto", "mpi"), sites, true, &warning)), "mpi");
  EXPECT_EQ(warning, "");
}

TEST(Placement, RanksSharingAGpuFallBackToMpiWithOneWarning) {
  // Two ranks that each see their GPU as cuda:0 (one GPU per task) but on the same bus: shared.
  const std::vector<RankSite> sites = {gpu("a", 0, "0000:17:00.0"), gpu("a", 0, "0000:17:00.0"),
                                       gpu("a", 1, "0000:65:00.0")};
  std::string warning;
  EXPECT_EQ(to_string(plan_backend(dist("auto", "auto"), sites, true, &warning)), "mpi");
  EXPECT_NE(warning.find("ranks 0, 1 on host a share the GPU 0000:17:00.0"), std::string::npos)
      << warning;
  EXPECT_NE(warning.find("one rank per GPU"), std::string::npos) << warning;
  EXPECT_EQ(warning.find('\n'), std::string::npos);
}

TEST(Placement, NcclWithRanksSharingAGpuIsAnErrorNamingThem) {
  const std::vector<RankSite> sites = {gpu("a", 0, "0000:17:00.0"), gpu("b", 0, "0000:17:00.0"),
                                       gpu("b", 0, "0000:17:00.0")};
  const std::string error = error_of(dist("auto", "nccl"), sites);
  EXPECT_NE(error.find("dist.backend nccl: ranks 1, 2 on host b share the GPU 0000:17:00.0"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("NCCL needs one rank per GPU"), std::string::npos) << error;
  EXPECT_EQ(error_of(dist("auto", "mpi"), sites), "");
}

TEST(Placement, MixedDevicesAreAnErrorNamingTheRanks) {
  const std::vector<RankSite> sites = {gpu("a", 0, "0000:17:00.0"), gpu("a", 1, "0000:65:00.0"),
                                       cpu("b"), cpu("c")};
  for (const std::string backend : {"auto", "mpi", "nccl"}) {
    const std::string error = error_of(dist("auto", backend), sites);
    EXPECT_NE(error.find("ranks 2 on host b, 3 on host c would train on the CPU and ranks 0, 1 on "
                         "host a on GPUs"),
              std::string::npos)
        << error;
  }
}

TEST(Placement, CudaWithoutAGpuNamesTheRanks) {
  const std::string error = error_of(dist("cuda", "auto"), {cpu("a"), cpu("a")}, false);
  EXPECT_NE(error.find("dist.device cuda: ranks 0, 1 on host a see no usable GPU"),
            std::string::npos)
      << error;
  const std::string one = error_of(dist("cuda", "auto"), {gpu("a", 0, "x"), cpu("b")});
  EXPECT_NE(one.find("dist.device cuda: rank 1 on host b sees no usable GPU"), std::string::npos)
      << one;
}

TEST(Placement, NcclOnTheCpu) {
  EXPECT_NE(error_of(dist("cpu", "nccl"), {cpu("a")}, true).find("needs a GPU per rank"),
            std::string::npos);
  EXPECT_NE(error_of(dist("auto", "nccl"), {cpu("a")}, false).find("not built in"),
            std::string::npos);
}

TEST(Placement, LongListsOfRanksAreCut) {
  std::vector<RankSite> sites(12, gpu("a", 0, "0000:17:00.0"));
  const std::string error = error_of(dist("auto", "nccl"), sites);
  EXPECT_NE(error.find("ranks 0, 1, 2, 3, 4, 5, 6, 7 on host a and 4 more share"),
            std::string::npos)
      << error;
}

TEST(Placement, CudaNTakesGpusFromN) {
  EXPECT_EQ(gpu_index(*parse_device("cuda"), 3, 2), 1);  // round robin
  EXPECT_EQ(gpu_index(*parse_device("auto"), 0, 4), 0);
  EXPECT_EQ(gpu_index(*parse_device("cuda:1"), 0, 2), 1);
  EXPECT_EQ(gpu_index(*parse_device("cuda:2"), 1, 4), 3);
  try {
    gpu_index(*parse_device("cuda:1"), 1, 2);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "dist.device cuda:1: local rank 1 would train on GPU 2, but this machine shows 2 "
                 "GPU(s), 0 to 1 (CUDA_VISIBLE_DEVICES renumbers them from 0)");
  }
  // The one error names the setting as given.
  const std::string error = error_of(dist("cuda:1", "auto"), {cpu("a")});
  EXPECT_NE(error.find("dist.device cuda:1: rank 0 on host a sees no usable GPU"),
            std::string::npos)
      << error;
}

TEST(Placement, LocalSiteOnThisMachine) {
  const RankSite site = local_site(dist("cpu", "auto"), "h", 3);
  EXPECT_EQ(site.host, "h");
  EXPECT_EQ(site.device, "cpu");
  EXPECT_EQ(site.gpu_bus_id, "");
  const RankSite any = local_site(dist("auto", "auto"), "h", 3);
  if (torch::cuda::is_available()) {
    const int gpus = static_cast<int>(torch::cuda::device_count());
    EXPECT_EQ(any.device, "cuda:" + std::to_string(3 % gpus));  // local ranks share round robin
    EXPECT_FALSE(any.gpu_bus_id.empty());
  } else {
    EXPECT_EQ(any.device, "cpu");
  }
}

}  // namespace
}  // namespace vit
