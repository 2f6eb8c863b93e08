// Training on the GPU (label gpu), as users run it: a few steps on the GPU match the same steps on
// the CPU within float tolerance (SGD and Adam); the trainer with the NCCL back end inside (one
// rank) matches it without; a checkpoint written on the GPU resumes on the CPU exactly. Skips
// where LibTorch sees no CUDA device (fails instead under VIT_REQUIRE_GPU, as in the GPU check).
// Its main() starts MPI (a world of one without mpiexec) for the NCCL back end.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "dist/solo_communicator.h"
#include "test_util.h"
#include "train/trainer.h"
#ifdef VIT_WITH_CUDA
#include "dist/nccl_communicator.h"
#endif

namespace vit {
namespace {

TrainConfig small_run(const std::string& dir, const std::string& optimizer) {
  TrainConfig config;
  config.data.dir = dir;
  config.train.max_steps = 5;
  config.train.batch_size = 32;
  config.optim.name = optimizer;
  config.optim.lr = optimizer == "sgd" ? 0.05 : 0.005;
  config.log.every_steps = "0";
  return config;
}

// The key third of an attention's qkv bias: softmax ignores a constant added to every score of a
// query, so its gradient is zero but for rounding noise (~1e-9), which Adam scales up to steps of
// +-lr in directions that differ between CPU and GPU (seen on an H200: 2 of 26 parameters).
torch::Tensor without_key_bias(const std::string& name, torch::Tensor value) {
  if (name.size() < 8 || name.compare(name.size() - 8, 8, "qkv.bias") != 0) return value;
  const int64_t dim = value.size(0) / 3;
  return torch::cat({value.slice(0, 0, dim), value.slice(0, 2 * dim)});
}

void expect_same_parameters(Trainer& a, Trainer& b, double rtol, double atol,
                            bool skip_key_bias = false) {
  const auto pa = a.model()->named_parameters(), pb = b.model()->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    const auto& name = pa[i].key();
    auto va = pa[i].value().cpu(), vb = pb[i].value().cpu();
    if (skip_key_bias) va = without_key_bias(name, va), vb = without_key_bias(name, vb);
    EXPECT_TRUE(torch::allclose(va, vb, rtol, atol))
        << name << ": largest difference " << (va - vb).abs().max().item<double>();
  }
}

class GpuTraining : public ::testing::TestWithParam<std::string> {};

TEST_P(GpuTraining, MatchesTheCpu) {
  VIT_REQUIRE_GPU();
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir.path().string(), 256, 100);
  const TrainConfig config = small_run(dir.path().string(), GetParam());
  SoloCommunicator solo;
  Trainer cpu(config, load_dataset(config.data), solo, torch::kCPU);
  Trainer gpu(config, load_dataset(config.data), solo, torch::Device(torch::kCUDA, 0));
  ASSERT_TRUE(gpu.gradients().intact());
  const auto cpu_results = cpu.fit(nullptr).epochs;
  const auto gpu_results = gpu.fit(nullptr).epochs;
  EXPECT_NEAR(cpu_results.back().train_loss, gpu_results.back().train_loss, 1e-4);
  EXPECT_EQ(cpu_results.back().test.count, gpu_results.back().test.count);
  EXPECT_NEAR(cpu_results.back().test.accuracy, gpu_results.back().test.accuracy, 0.011);
  expect_same_parameters(cpu, gpu, 1e-3, 1e-5, /*skip_key_bias=*/GetParam() == "adam");
}

INSTANTIATE_TEST_SUITE_P(Optimizers, GpuTraining, ::testing::Values("sgd", "adam"));

TEST(GpuCheckpoint, WrittenOnTheGpuResumesOnTheCpuExactly) {
  VIT_REQUIRE_GPU();
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir.file("data"), 256, 100);
  TrainConfig config = small_run(dir.file("data"), "adam");
  config.train.max_steps = 3;
  std::filesystem::create_directories(dir.file("checkpoints"));  // as the run directory has
  const CheckpointDir checkpoints(dir.file("checkpoints"));
  SoloCommunicator solo;
  Trainer gpu(config, load_dataset(config.data), solo, torch::Device(torch::kCUDA, 0));
  gpu.fit(nullptr, &checkpoints);
  ASSERT_FALSE(checkpoints.candidates().empty());

  Trainer cpu(config, load_dataset(config.data), solo, torch::kCPU);
  EXPECT_NE(cpu.resume("auto", checkpoints), "");
  EXPECT_EQ(cpu.step(), 3);
  expect_same_parameters(gpu, cpu, 0, 0);  // bit for bit
  // And it trains on from there (the Adam moments moved to the CPU with it).
  config.train.max_steps = 5;
  EXPECT_EQ(cpu.fit(nullptr).epochs.empty(), false);
  EXPECT_EQ(cpu.step(), 5);
}

#ifdef VIT_WITH_CUDA
TEST(GpuNccl, TheTrainerWithNcclOnOneRankMatchesItWithout) {
  VIT_REQUIRE_GPU();
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir.path().string(), 256, 100);
  const TrainConfig config = small_run(dir.path().string(), "adam");
  const torch::Device cuda0(torch::kCUDA, 0);
  SoloCommunicator solo;
  NcclCommunicator nccl(MPI_COMM_SELF, cuda0, /*timeout_s=*/60);
  Trainer plain(config, load_dataset(config.data), solo, cuda0);
  Trainer with_nccl(config, load_dataset(config.data), nccl, cuda0);
  const auto plain_results = plain.fit(nullptr).epochs;
  const auto nccl_results = with_nccl.fit(nullptr).epochs;
  EXPECT_NEAR(plain_results.back().train_loss, nccl_results.back().train_loss, 1e-6);
  expect_same_parameters(plain, with_nccl, 1e-6, 1e-7);
  // The all-reduce was timed on the GPU, and is a part of the training time.
  EXPECT_GT(nccl.all_reduce_seconds(), 0);
  EXPECT_GT(nccl_results.back().allreduce_s, 0);
  EXPECT_LT(nccl_results.back().allreduce_s, nccl_results.back().epoch_s);
}
#endif

}  // namespace
}  // namespace vit
