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

#include "parallel/solo_communicator.h"
#include "test_util.h"
#include "store/checkpoint_dir.h"
#include "train/trainer.h"
#include "util/error.h"
#ifdef VIT_WITH_CUDA
#include "parallel/nccl_communicator.h"
#endif

namespace vit {
namespace {

TrainConfig small_run(const std::string& dir, const std::string& optimizer) {
  TrainConfig config;
  config.data.dir = dir;
  config.train.max_steps = 5;
  config.train.batch_size = 32;
  config.optim.name = *parse_choice<OptimName>(optimizer);
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
  EXPECT_EQ(cpu_results.back().test.count(), gpu_results.back().test.count());
  EXPECT_NEAR(cpu_results.back().test.accuracy(), gpu_results.back().test.accuracy(), 0.011);
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

// train.cuda_graph: a step captured once and replayed trains like eager steps (within float
// rounding: the optimizer's bias corrections come from a step count on the device), through the
// eager warm-up, the capture, the replays and each epoch's shorter last step (eager: a graph has
// fixed shapes). 300 images in steps of 32: 9 full steps and one of 12 per epoch. The learning
// rate changes every step (warm-up, then cosine), as replays must follow it.
class GpuGraph : public ::testing::TestWithParam<std::string> {};

TEST_P(GpuGraph, ReplaysLikeEagerSteps) {
  VIT_REQUIRE_GPU();
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir.path().string(), 300, 100);
  TrainConfig config = small_run(dir.path().string(), GetParam());
  config.train.max_steps = 0;
  config.train.epochs = 2;
  config.optim.schedule = LrSchedule::kCosine;
  config.optim.warmup_steps = 5;
  TrainConfig eager = config, graph = config;
  eager.train.cuda_graph = CudaGraphMode::kOff;
  graph.train.cuda_graph = CudaGraphMode::kOn;
  const torch::Device cuda0(torch::kCUDA, 0);
  SoloCommunicator solo;
  Trainer a(eager, load_dataset(eager.data), solo, cuda0);
  Trainer b(graph, load_dataset(graph.data), solo, cuda0);
  EXPECT_FALSE(a.uses_cuda_graph());
  ASSERT_TRUE(b.uses_cuda_graph()) << b.graph_obstacle();
  const auto ra = a.fit(nullptr).epochs;
  const auto rb = b.fit(nullptr).epochs;
  ASSERT_EQ(ra.size(), 2u);
  ASSERT_EQ(rb.size(), 2u);
  EXPECT_EQ(a.step(), 20);
  EXPECT_EQ(b.step(), 20);
  EXPECT_FALSE(a.graph_captured());
  EXPECT_TRUE(b.graph_captured());
  EXPECT_NEAR(ra.back().train_loss, rb.back().train_loss, 1e-4);
  EXPECT_NEAR(ra.back().test.accuracy(), rb.back().test.accuracy(), 0.011);
  // (AdamW without weight decay is Adam: the same noise in the key bias)
  expect_same_parameters(a, b, 1e-3, 1e-5, /*skip_key_bias=*/GetParam() != "sgd");
  EXPECT_TRUE(b.gradients().intact());
}

INSTANTIATE_TEST_SUITE_P(Optimizers, GpuGraph, ::testing::Values("sgd", "adam", "adamw"));

TEST(GpuGraphAuto, IsTheDefaultOnAGpuAndOffStepsEagerly) {
  VIT_REQUIRE_GPU();
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir.path().string(), 256, 100);
  TrainConfig config = small_run(dir.path().string(), "adam");
  SoloCommunicator solo;
  Trainer automatic(config, load_dataset(config.data), solo, torch::Device(torch::kCUDA, 0));
  EXPECT_TRUE(automatic.uses_cuda_graph()) << automatic.graph_obstacle();
  config.optim.fused = OnOff::kOff;  // LibTorch's optimizers cannot be captured
  Trainer unfused(config, load_dataset(config.data), solo, torch::Device(torch::kCUDA, 0));
  EXPECT_FALSE(unfused.uses_cuda_graph());
  EXPECT_NE(unfused.graph_obstacle().find("optim.fused"), std::string::npos);
}

// A run resumed from a checkpoint written between replays continues like the uninterrupted one:
// the optimizer's device step count and moments follow the loaded state.
TEST(GpuGraphResume, ContinuesLikeTheUninterruptedRun) {
  VIT_REQUIRE_GPU();
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir.file("data"), 512, 100);
  TrainConfig config = small_run(dir.file("data"), "adam");
  config.train.max_steps = 12;
  const torch::Device cuda0(torch::kCUDA, 0);
  SoloCommunicator solo;
  Trainer straight(config, load_dataset(config.data), solo, cuda0);
  straight.fit(nullptr);

  TrainConfig first = config;
  first.train.max_steps = 7;
  std::filesystem::create_directories(dir.file("checkpoints"));
  const CheckpointDir checkpoints(dir.file("checkpoints"));
  {
    Trainer part(first, load_dataset(first.data), solo, cuda0);
    part.fit(nullptr, &checkpoints);
    ASSERT_EQ(part.step(), 7);
  }
  Trainer resumed(config, load_dataset(config.data), solo, cuda0);
  ASSERT_NE(resumed.resume("auto", checkpoints), "");
  ASSERT_TRUE(resumed.uses_cuda_graph());
  resumed.fit(nullptr);
  EXPECT_EQ(resumed.step(), 12);
  EXPECT_TRUE(resumed.graph_captured());
  expect_same_parameters(straight, resumed, 1e-4, 1e-6, /*skip_key_bias=*/true);
}

// train.precision bf16 on the GPU (with the graph): learns like fp32, weights stay float32.
TEST(GpuPrecision, Bf16TrainsLikeFp32WithFloat32Weights) {
  VIT_REQUIRE_GPU();
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir.path().string(), 768, 256);
  TrainConfig fp32 = small_run(dir.path().string(), "adam");
  fp32.train.max_steps = 0;
  fp32.train.epochs = 3;
  TrainConfig bf16 = fp32;
  bf16.train.precision = Precision::kBf16;
  const torch::Device cuda0(torch::kCUDA, 0);
  SoloCommunicator solo;
  Trainer a(fp32, load_dataset(fp32.data), solo, cuda0);
  Trainer b(bf16, load_dataset(bf16.data), solo, cuda0);
  const auto ra = a.fit(nullptr).epochs, rb = b.fit(nullptr).epochs;
  EXPECT_NEAR(ra.back().train_loss, rb.back().train_loss, 0.05 + 0.1 * ra.back().train_loss);
  EXPECT_NEAR(ra.back().test.accuracy(), rb.back().test.accuracy(), 0.1);
  EXPECT_NE(ra.back().train_loss, rb.back().train_loss);  // bfloat16 did round something
  EXPECT_TRUE(b.graph_captured());                        // (and was captured: auto)
  for (const auto& p : b.model()->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
}

// On a GPU the finite check is read at step lines and checkpoints, not every step: a diverging
// run still ends with the error and writes no checkpoint after it diverged.
TEST(GpuDivergence, EndsTheRunBeforeTheNextCheckpoint) {
  VIT_REQUIRE_GPU();
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir.file("data"), 512, 100);
  TrainConfig config = small_run(dir.file("data"), "sgd");
  config.train.max_steps = 0;
  config.optim.lr = 1e30;
  config.checkpoint.every_steps = 6;
  std::filesystem::create_directories(dir.file("checkpoints"));
  const CheckpointDir checkpoints(dir.file("checkpoints"));
  SoloCommunicator solo;
  Trainer trainer(config, load_dataset(config.data), solo, torch::Device(torch::kCUDA, 0));
  try {
    trainer.fit(nullptr, &checkpoints);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("training diverged"), std::string::npos) << what;
    EXPECT_NE(what.find("between step 1 and step 6"), std::string::npos) << what;
  }
  EXPECT_TRUE(checkpoints.candidates().empty());
}

#ifdef VIT_WITH_CUDA
TEST(GpuNccl, TheTrainerWithNcclOnOneRankMatchesItWithout) {
  VIT_REQUIRE_GPU();
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir.path().string(), 256, 100);
  TrainConfig config = small_run(dir.path().string(), "adam");
  config.train.cuda_graph = CudaGraphMode::kOff;  // the eager step's all-reduce is the one timed
  const torch::Device cuda0(torch::kCUDA, 0);
  SoloCommunicator solo;
  NcclCommunicator nccl(MPI_COMM_SELF, cuda0, /*timeout_s=*/60);
  Trainer plain(config, load_dataset(config.data), solo, cuda0);
  Trainer with_nccl(config, load_dataset(config.data), nccl, cuda0);
  const auto plain_results = plain.fit(nullptr).epochs;
  const auto nccl_results = with_nccl.fit(nullptr).epochs;
  EXPECT_NEAR(plain_results.back().train_loss, nccl_results.back().train_loss, 1e-6);
  // (Adam: the key bias is rounding noise scaled up, and the all-reduce runs on another stream)
  expect_same_parameters(plain, with_nccl, 1e-6, 1e-7, /*skip_key_bias=*/true);
  // The all-reduce was timed on the GPU, and is a part of the training time.
  EXPECT_GT(nccl.all_reduce_seconds(), 0);
  EXPECT_GT(nccl_results.back().allreduce_s, 0);
  EXPECT_LT(nccl_results.back().allreduce_s, nccl_results.back().epoch_s);
}

TEST(GpuNccl, TheGraphStepWithNcclOnOneRankMatchesItWithout) {
  VIT_REQUIRE_GPU();
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir.path().string(), 512, 100);
  TrainConfig config = small_run(dir.path().string(), "adam");
  config.train.max_steps = 10;
  config.train.cuda_graph = CudaGraphMode::kOn;
  const torch::Device cuda0(torch::kCUDA, 0);
  SoloCommunicator solo;
  NcclCommunicator nccl(MPI_COMM_SELF, cuda0, /*timeout_s=*/60);
  Trainer plain(config, load_dataset(config.data), solo, cuda0);
  Trainer with_nccl(config, load_dataset(config.data), nccl, cuda0);
  ASSERT_TRUE(with_nccl.uses_cuda_graph()) << with_nccl.graph_obstacle();
  const auto plain_results = plain.fit(nullptr).epochs;
  const auto nccl_results = with_nccl.fit(nullptr).epochs;
  EXPECT_NEAR(plain_results.back().train_loss, nccl_results.back().train_loss, 1e-6);
  // (Adam: the key bias is rounding noise scaled up, and the all-reduce runs on another stream)
  expect_same_parameters(plain, with_nccl, 1e-6, 1e-7, /*skip_key_bias=*/true);
  EXPECT_TRUE(with_nccl.graph_captured());
}
#endif

}  // namespace
}  // namespace vit
