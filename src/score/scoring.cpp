#include "score/scoring.h"

#include "util/error.h"

namespace vit {

int64_t shard_begin(int64_t n, int rank, int world) { return n * rank / world; }

ShardScore score_shard(VisionTransformer& model, const Split& split, int64_t batch_size, int rank,
                       int world) {
  VIT_CHECK(batch_size > 0, "evaluation batch size must be positive, got ", batch_size);
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const torch::Device device = split.labels.device();
  const auto long_options = torch::TensorOptions().dtype(torch::kLong).device(device);
  const int64_t n = split.size();
  const int64_t begin = shard_begin(n, rank, world), end = shard_begin(n, rank + 1, world);
  ShardScore score;
  score.begin = begin;
  score.predicted = torch::zeros({end - begin}, long_options);
  score.loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  for (int64_t start = begin; start < end; start += batch_size) {
    const int64_t count = std::min(batch_size, end - start);
    const Batch batch = gather(split, torch::arange(start, start + count, long_options));
    const auto logits = model->forward(batch.images);
    score.loss_sum += torch::nn::functional::cross_entropy(
                          logits, batch.labels,
                          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                          .to(torch::kFloat64);
    score.predicted.narrow(/*dim=*/0, start - begin, count).copy_(logits.argmax(/*dim=*/1));
  }
  model->train(was_training);
  return score;
}

}  // namespace vit
