#include "train/trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "train/optimizer.h"
#include "util/error.h"

namespace vit {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

ImageShape image_shape(const Split& split) {
  return {split.images.size(1), split.images.size(2), split.images.size(3)};
}

VisionTransformer build_model(const TrainConfig& config, const Dataset& data) {
  // Seeded here so that the initial parameters depend on train.seed alone.
  torch::manual_seed(static_cast<uint64_t>(config.train.seed));
  return VisionTransformer(config.model, image_shape(data.train), kNumClasses);
}

}  // namespace

Trainer::Trainer(const TrainConfig& config, Dataset data)
    : config_(config),
      data_(std::move(data)),
      model_(build_model(config, data_)),
      optimizer_(make_optimizer(config.optim, model_->parameters())),
      sampler_(data_.train.size(), /*rank=*/0, /*world_size=*/1, config.train.seed) {}

int64_t Trainer::steps_per_epoch() const {
  return (sampler_.per_rank() + config_.train.batch_size - 1) / config_.train.batch_size;
}

torch::Tensor Trainer::train_step(const Batch& batch) {
  auto logits = model_->forward(batch.images);
  auto loss = torch::nn::functional::cross_entropy(logits, batch.labels);
  optimizer_->zero_grad();
  loss.backward();
  optimizer_->step();
  ++step_;
  return loss.detach();
}

EvalResult Trainer::evaluate(const Split& split) {
  torch::NoGradGuard no_grad;
  model_->eval();
  auto loss_sum = torch::zeros({}, torch::kFloat64);
  auto correct = torch::zeros({}, torch::kLong);
  const int64_t n = split.size();
  for (int64_t start = 0; start < n; start += config_.train.eval_batch_size) {
    const int64_t count = std::min(config_.train.eval_batch_size, n - start);
    const Batch batch = gather(split, torch::arange(start, start + count, torch::kLong));
    auto logits = model_->forward(batch.images);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, batch.labels,
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .to(torch::kFloat64);
    correct += logits.argmax(/*dim=*/1).eq(batch.labels).sum();
  }
  model_->train();
  EvalResult result;
  result.count = n;
  result.correct = correct.item<int64_t>();
  result.loss = loss_sum.item<double>() / static_cast<double>(n);
  result.accuracy = static_cast<double>(result.correct) / static_cast<double>(n);
  return result;
}

std::vector<EpochResult> Trainer::fit(MetricsWriter* metrics) {
  const TrainLoopConfig& train = config_.train;
  const int64_t per_epoch = steps_per_epoch();
  int64_t total_steps = per_epoch * train.epochs;
  if (train.max_steps > 0) total_steps = std::min(total_steps, train.max_steps);

  std::vector<EpochResult> results;
  model_->train();
  for (int64_t epoch = 0; epoch < train.epochs && step_ < total_steps; ++epoch) {
    const auto order = sampler_.indices(epoch);
    const auto start = Clock::now();
    auto loss_sum = torch::zeros({}, torch::kFloat64);  // summed without a sync per step
    int64_t images = 0;
    auto window_start = start;
    int64_t window_images = 0;
    for (int64_t b = 0; b < per_epoch && step_ < total_steps; ++b) {
      const int64_t first = b * train.batch_size;
      const int64_t count = std::min(train.batch_size, order.size(0) - first);
      const Batch batch = gather(data_.train, order.narrow(/*dim=*/0, first, count));
      const double lr = learning_rate(config_.optim, step_, total_steps);
      set_learning_rate(*optimizer_, lr);
      auto loss = train_step(batch);
      loss_sum += loss.to(torch::kFloat64) * static_cast<double>(count);
      images += count;
      window_images += count;
      if (config_.log.every_steps > 0 && step_ % config_.log.every_steps == 0) {
        const double window_s = seconds_since(window_start);
        spdlog::info("epoch {}/{} step {} ({}/{}) loss {:.4f} lr {:.3g} {:.0f} img/s", epoch + 1,
                     train.epochs, step_, b + 1, per_epoch, loss.item<float>(), lr,
                     static_cast<double>(window_images) / window_s);
        window_start = Clock::now();
        window_images = 0;
      }
    }
    EpochResult result;
    result.epoch = epoch + 1;
    result.step = step_;
    result.epoch_s = seconds_since(start);
    result.images_per_s = static_cast<double>(images) / result.epoch_s;
    result.train_loss = loss_sum.item<double>() / static_cast<double>(images);
    result.test = evaluate(data_.test);
    spdlog::info("epoch {}/{} done: train_loss {:.4f} test_loss {:.4f} test_acc {:.2f}% "
                 "{:.0f} img/s {:.1f} s",
                 result.epoch, train.epochs, result.train_loss, result.test.loss,
                 100.0 * result.test.accuracy, result.images_per_s, result.epoch_s);
    if (metrics != nullptr) {
      metrics->write(JsonLine()
                         .add("event", "epoch")
                         .add("epoch", result.epoch)
                         .add("step", result.step)
                         .add("train_loss", result.train_loss)
                         .add("test_loss", result.test.loss)
                         .add("test_acc", result.test.accuracy)
                         .add("images_per_s", result.images_per_s)
                         .add("epoch_s", result.epoch_s)
                         .add("world_size", 1)
                         .add("lr", learning_rate(config_.optim, step_ - 1, total_steps)));
    }
    results.push_back(result);
  }
  return results;
}

}  // namespace vit
