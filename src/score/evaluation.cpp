#include "score/evaluation.h"

#include <cmath>
#include <limits>

#include "score/scoring.h"
#include "util/error.h"

namespace vit {

torch::Tensor confusion_matrix(const torch::Tensor& labels, const torch::Tensor& predicted,
                               int64_t classes) {
  VIT_CHECK(labels.dim() == 1 && predicted.dim() == 1 && labels.size(0) == predicted.size(0),
            "confusion matrix: ", labels.sizes(), " labels but ", predicted.sizes(),
            " predictions");
  const auto l = labels.to(torch::kCPU, torch::kLong), p = predicted.to(torch::kCPU, torch::kLong);
  if (l.numel() > 0) {
    VIT_CHECK(l.min().item<int64_t>() >= 0 && l.max().item<int64_t>() < classes &&
                  p.min().item<int64_t>() >= 0 && p.max().item<int64_t>() < classes,
              "confusion matrix: a class outside 0..", classes - 1);
  }
  // Pair (true t, predicted q) counted in bin t * classes + q.
  return torch::bincount(l * classes + p, /*weights=*/{}, /*minlength=*/classes * classes)
      .view({classes, classes});
}

Evaluation make_evaluation(torch::Tensor labels, torch::Tensor predicted, double loss_sum,
                           int64_t classes) {
  Evaluation out;
  out.labels = labels.to(torch::kCPU, torch::kLong);
  out.predicted = predicted.to(torch::kCPU, torch::kLong);
  out.confusion = confusion_matrix(out.labels, out.predicted, classes);
  out.loss_sum = loss_sum;
  return out;
}

int64_t Evaluation::correct() const { return confusion.trace().item<int64_t>(); }

double Evaluation::accuracy() const {
  return count() == 0 ? 0.0 : static_cast<double>(correct()) / static_cast<double>(count());
}

double Evaluation::loss() const {
  return count() == 0 ? 0.0 : loss_sum / static_cast<double>(count());
}

std::vector<int64_t> Evaluation::class_count() const {
  const auto rows = confusion.sum(/*dim=*/1);
  return {rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel()};
}

std::vector<int64_t> Evaluation::class_correct() const {
  const auto diagonal = confusion.diagonal().contiguous();
  return {diagonal.data_ptr<int64_t>(), diagonal.data_ptr<int64_t>() + diagonal.numel()};
}

std::vector<double> Evaluation::class_accuracy() const {
  const auto total = class_count(), right = class_correct();
  std::vector<double> out;
  for (size_t c = 0; c < total.size(); ++c) {
    out.push_back(total[c] == 0 ? std::numeric_limits<double>::quiet_NaN()
                                : static_cast<double>(right[c]) / static_cast<double>(total[c]));
  }
  return out;
}

std::vector<int64_t> Evaluation::misclassified(int64_t limit) const {
  const auto wrong = predicted.ne(labels).nonzero().flatten().contiguous();
  const int64_t n = limit < 0 ? wrong.numel() : std::min(limit, wrong.numel());
  return {wrong.data_ptr<int64_t>(), wrong.data_ptr<int64_t>() + n};
}

Evaluation evaluate_model(VisionTransformer& model, const Split& split, int64_t batch_size,
                          Communicator& comm) {
  const int world = comm.world_size();
  const ShardScore mine = score_shard(model, split, batch_size, comm.rank(), world);
  // Every rank's share of the predictions to every rank: one broadcast per rank (the shares are
  // contiguous, so each is a view of `predicted` that the broadcast fills in place).
  const int64_t n = split.size();
  auto predicted = torch::zeros({n}, mine.predicted.options());
  predicted.narrow(/*dim=*/0, mine.begin, mine.predicted.size(0)).copy_(mine.predicted);
  for (int r = 0; r < world; ++r) {
    const int64_t begin = shard_begin(n, r, world);
    auto share = predicted.narrow(/*dim=*/0, begin, shard_begin(n, r + 1, world) - begin);
    if (share.numel() > 0) comm.broadcast(share, r);
  }
  comm.synchronize();
  const double total_loss = comm.sum(mine.loss_sum.item<double>());
  return make_evaluation(split.labels, predicted, total_loss, kNumClasses);
}

}  // namespace vit
