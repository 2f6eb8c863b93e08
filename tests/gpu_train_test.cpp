// A few training steps on the GPU match the same steps on the CPU within float tolerance
// (label gpu; skips where LibTorch sees no CUDA device).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dist/solo_communicator.h"
#include "test_util.h"
#include "train/trainer.h"

namespace vit {
namespace {

TEST(GpuTraining, MatchesTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  testing::TempDir dir;
  testing::write_synthetic_dataset(dir.path().string(), 256, 100);
  TrainConfig config;
  config.data.dir = dir.path().string();
  config.train.max_steps = 5;
  config.train.batch_size = 32;
  config.optim.name = "sgd";
  config.optim.lr = 0.05;
  config.log.every_steps = "0";
  SoloCommunicator solo;
  Trainer cpu(config, load_dataset(config.data), solo, torch::kCPU);
  Trainer gpu(config, load_dataset(config.data), solo, torch::Device(torch::kCUDA, 0));
  ASSERT_TRUE(gpu.gradients().intact());
  const auto cpu_results = cpu.fit(nullptr).epochs;
  const auto gpu_results = gpu.fit(nullptr).epochs;
  EXPECT_NEAR(cpu_results.back().train_loss, gpu_results.back().train_loss, 1e-4);
  EXPECT_EQ(cpu_results.back().test.count, gpu_results.back().test.count);
  const auto pc = cpu.model()->parameters(), pg = gpu.model()->parameters();
  for (size_t i = 0; i < pc.size(); ++i) {
    EXPECT_TRUE(torch::allclose(pc[i], pg[i].cpu(), /*rtol=*/1e-3, /*atol=*/1e-5)) << i;
  }
}

}  // namespace
}  // namespace vit
