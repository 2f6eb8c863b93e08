// TrainStep, the step engine, driven with indices of the test's own (no sampler, no run
// directory): a step is the hand-written LibTorch forward, backward and optimizer step (SGD to the
// bit, the fused Adam within float rounding); accumulated micro-batches are one step of their
// sum; a step that is not finite stops before its update, numbered as the run numbers it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "parallel/solo_communicator.h"
#include "test_util.h"
#include "train/step.h"
#include "util/error.h"

namespace vit {
namespace {

class StepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto [images, labels] = testing::synthetic_digits(64, /*seed=*/7);
    split_ = {images.unsqueeze(/*dim=*/1), labels.to(torch::kInt64)};
    config_.train.batch_size = 32;
    config_.train.parallel = ParallelMode::kOps;  // one thread per micro-batch: the hand-written step's order
    config_.optim.name = OptimName::kSgd;
    config_.optim.fused = OnOff::kOff;
  }
  // The seed model, the same for every call with the same seed.
  VisionTransformer model(int64_t seed = 1) const {
    torch::manual_seed(static_cast<uint64_t>(seed));
    return VisionTransformer(config_.model, ImageShape{}, kNumClasses);
  }
  TrainStep engine(const TrainConfig& config, VisionTransformer m) {
    return TrainStep(config, config.optim, std::move(m), split_, solo_, torch::kCPU);
  }
  // Forward and backward of the samples at `indices`, by hand; returns the mean loss.
  torch::Tensor backward_by_hand(VisionTransformer& m, const torch::Tensor& indices) const {
    const Batch batch = gather(split_, indices);
    const auto loss = torch::nn::functional::cross_entropy(m->forward(batch.images), batch.labels);
    loss.backward();
    return loss.detach();
  }
  // One step on the `n` samples from index 3 with `whole` and with `split` (the same samples in
  // other micro-batches or passes): the same loss, gradients and parameters up to float rounding.
  void expect_the_same_step(const TrainConfig& whole, const TrainConfig& split, int64_t n) {
    VisionTransformer one = model(), two = model();
    TrainStep a = engine(whole, one);
    TrainStep b = engine(split, two);
    const auto indices = torch::arange(3, 3 + n);
    const double loss_a = a.run(indices, 0.05).item<double>();
    const double loss_b = b.run(indices, 0.05).item<double>();
    EXPECT_NEAR(loss_a, loss_b, 1e-5 * loss_a) << n;
    EXPECT_NEAR(a.gradients().loss_slot().item<double>(), loss_a / static_cast<double>(n), 1e-6);
    EXPECT_NEAR(b.gradients().loss_slot().item<double>(), loss_a / static_cast<double>(n), 1e-6);
    EXPECT_TRUE(torch::allclose(a.gradients().gradients(), b.gradients().gradients(), 1e-4, 1e-7))
        << n << ": largest difference "
        << (a.gradients().gradients() - b.gradients().gradients()).abs().max().item<double>();
    const auto pa = one->parameters(), pb = two->parameters();
    for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::allclose(pa[i], pb[i], 1e-5, 1e-7));
  }
  Split split_;
  TrainConfig config_;
  SoloCommunicator solo_;
};

void expect_equal_parameters(VisionTransformer& a, VisionTransformer& b) {
  const auto pa = a->parameters(), pb = b->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << i;
}

TEST_F(StepTest, AStepIsTheHandWrittenSgdStepToTheBit) {
  VisionTransformer mine = model(), by_hand = model();
  TrainStep step = engine(config_, mine);
  const auto indices = torch::arange(32);
  const double loss_sum = step.run(indices, /*lr=*/0.05).item<double>();
  EXPECT_EQ(step.steps(), 1);
  EXPECT_EQ(step.learning_rate(), 0.05);

  const torch::Tensor loss = backward_by_hand(by_hand, indices);
  std::vector<torch::Tensor> grads;
  for (const auto& p : by_hand->parameters()) grads.push_back(p.grad().flatten());
  torch::optim::SGD sgd(by_hand->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  sgd.step();

  EXPECT_EQ(loss_sum, loss.item<double>() * 32);
  EXPECT_TRUE(torch::equal(step.gradients().gradients(), torch::cat(grads)));
  EXPECT_EQ(step.gradients().loss_slot().item<float>(), loss.item<float>());
  expect_equal_parameters(mine, by_hand);
  EXPECT_TRUE(step.gradients().intact());
}

TEST_F(StepTest, TheFusedAdamIsTheHandWrittenAdam) {
  TrainConfig config = config_;
  config.optim.name = OptimName::kAdam;
  config.optim.fused = OnOff::kOn;
  VisionTransformer mine = model(), by_hand = model();
  TrainStep step = engine(config, mine);
  const double lr = 0.01, beta1 = config.optim.beta1, beta2 = config.optim.beta2, eps = 1e-8;
  std::vector<torch::Tensor> m, v;
  for (const auto& p : by_hand->parameters()) {
    m.push_back(torch::zeros_like(p, torch::kFloat64));
    v.push_back(torch::zeros_like(p, torch::kFloat64));
  }
  const auto pa = mine->parameters(), pb = by_hand->parameters();
  for (int t = 1; t <= 3; ++t) {  // (three steps: the moments carry over)
    // Each step starts from the engine's parameters: rounding noise in a gradient that is zero
    // but for it (the key third of qkv.bias) would otherwise grow into steps of +-lr.
    {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < pa.size(); ++i) pb[i].copy_(pa[i]);
    }
    const auto indices = torch::arange(16 * t, 16 * t + 32) % 64;
    step.run(indices, lr);
    for (auto& p : by_hand->parameters()) p.mutable_grad() = torch::Tensor();
    backward_by_hand(by_hand, indices);
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < pb.size(); ++i) {
      const auto g = pb[i].grad().to(torch::kFloat64);
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      const auto m_hat = m[i] / (1 - std::pow(beta1, t));
      const auto v_hat = v[i] / (1 - std::pow(beta2, t));
      pb[i].sub_((lr * m_hat / (v_hat.sqrt() + eps)).to(torch::kFloat32));
      EXPECT_TRUE(torch::allclose(pa[i], pb[i], /*rtol=*/1e-5, /*atol=*/1e-6))
          << "step " << t << ", parameter " << i << ": largest difference "
          << (pa[i] - pb[i]).abs().max().item<double>();
    }
  }
  EXPECT_EQ(step.steps(), 3);
}

// accum_steps 2 of batch 16 = one batch of 32: the same gradients (the mean over the step's
// samples) up to float rounding; so is a short last step split 16 + 4 (weighted by share).
TEST_F(StepTest, AccumulatedMicroBatchesAreOneStepOfTheirSum) {
  TrainConfig accumulated = config_;
  accumulated.train.batch_size = 16;
  accumulated.train.accum_steps = 2;
  EXPECT_EQ(samples_per_step(config_.train), 32);
  EXPECT_EQ(samples_per_step(accumulated.train), 32);
  for (const int64_t n : {32, 20}) expect_the_same_step(config_, accumulated, n);
}

// A micro-batch in passes of train.chunk_images (32 images as 7 passes of 4-5, 20 as 4 of 5) is
// one step of their sum, as accumulated micro-batches are; on one thread and on the batch-parallel
// threads, which share each pass.
TEST_F(StepTest, PassesOfAMicroBatchAreOneStepOfTheirSum) {
  EXPECT_EQ(engine(config_, model()).pass_images(), 163);  // the seed model's 32 in one pass
  for (const ParallelMode parallel : {ParallelMode::kOps, ParallelMode::kBatch}) {
    TrainConfig passes = config_;
    passes.train.chunk_images = 5;
    passes.train.parallel = parallel;
    EXPECT_EQ(engine(passes, model()).pass_images(), 5);
    for (const int64_t n : {32, 20}) expect_the_same_step(config_, passes, n);
  }
}

// The pass size: train.chunk_images when set; for 0 the most images whose widest layer output
// fits in 1 MiB; on a GPU the whole micro-batch (0).
TEST(ImagesPerPass, TheKeyOrTheImagesWhoseWidestLayerOutputFitsInOneMebibyte) {
  TrainConfig c;  // the seed model: 50 tokens x 32 floats (its MLP) = 6,400 bytes an image
  EXPECT_EQ(images_per_pass(c, torch::kCPU), 163);
  c.model.hidden_d = 64;  // mnist-small: 50 x 192 (q, k and v) = 38,400 bytes
  c.model.n_heads = 4;
  c.model.mlp_ratio = 2;
  EXPECT_EQ(images_per_pass(c, torch::kCPU), 27);
  c.model.n_patches = 4;  // mnist-speedrun: 17 x 288 = 19,584 bytes
  c.model.hidden_d = 96;
  EXPECT_EQ(images_per_pass(c, torch::kCPU), 53);
  c.model.mlp_ratio = 8;  // the MLP wider than q, k and v: 17 x 768 = 52,224 bytes
  EXPECT_EQ(images_per_pass(c, torch::kCPU), 20);
  c.model.n_patches = 28;  // an image larger than the budget: one at a time
  c.model.hidden_d = 1024;
  EXPECT_EQ(images_per_pass(c, torch::kCPU), 1);
  c.train.chunk_images = 7;
  EXPECT_EQ(images_per_pass(c, torch::kCPU), 7);
  EXPECT_EQ(images_per_pass(c, torch::Device(torch::kCUDA, 0)), 0);
}

// On the CPU each step checks its all-reduced loss and gradients before its update: a NaN stops
// the step with the divergence error, numbered after the steps before it (restart_at, a resume).
TEST_F(StepTest, ANonFiniteStepStopsBeforeItsUpdate) {
  VisionTransformer m = model();
  TrainStep step = engine(config_, m);
  step.restart_at(7);
  {
    torch::NoGradGuard no_grad;
    m->parameters()[3].view(-1)[0] = std::nan("");
  }
  std::vector<torch::Tensor> before;
  for (const auto& p : m->parameters()) before.push_back(p.detach().clone());
  try {
    step.run(torch::arange(32), 0.05);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("step 8: training diverged: the loss (nan"), std::string::npos) << what;
    EXPECT_NE(what.find("are not finite"), std::string::npos) << what;
  }
  EXPECT_EQ(step.steps(), 7);
  const auto after = m->parameters();
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_TRUE(torch::equal(after[i].isnan(), before[i].isnan())) << i;
    EXPECT_TRUE(torch::equal(after[i].nan_to_num(), before[i].nan_to_num())) << i;
  }
}

// settle() after good steps passes (the CPU has nothing queued); the parameter check sees an
// update that was not finite itself, numbered as the step that made it.
TEST_F(StepTest, SettleAfterGoodStepsAndTheParameterCheck) {
  VisionTransformer m = model();
  TrainStep step = engine(config_, m);
  step.run(torch::arange(32), 0.05);
  step.run(torch::arange(32, 64), 0.05);
  EXPECT_NO_THROW(step.settle());
  EXPECT_NO_THROW(step.check_parameters());
  {
    torch::NoGradGuard no_grad;
    m->parameters()[2].view(-1)[1] = std::numeric_limits<float>::infinity();
  }
  try {
    step.check_parameters();
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("step 2: training diverged: the parameter "), std::string::npos) << what;
    EXPECT_NE(what.find("lower optim.lr (0.005)"), std::string::npos) << what;
  }
}

// Graphs are GPU-only: on the CPU every step is eager, and train.cuda_graph on is refused.
TEST_F(StepTest, NoGraphOnTheCpu) {
  TrainStep step = engine(config_, model());
  EXPECT_FALSE(step.uses_cuda_graph());
  EXPECT_FALSE(step.graph_captured());
  EXPECT_NE(step.graph_obstacle(), "");
  TrainConfig on = config_;
  on.train.cuda_graph = CudaGraphMode::kOn;
  EXPECT_THROW(engine(on, model()), Error);
}

}  // namespace
}  // namespace vit
