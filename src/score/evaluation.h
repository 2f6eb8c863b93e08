// Evaluation of a model on a data split: every image's predicted class, the confusion matrix,
// per-class accuracy and the mean loss. The one evaluation of both programs: the trainer's epoch
// lines (Trainer::evaluate) and vit-eval's report are this, so they agree by construction, and
// equal on any number of ranks.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "parallel/communicator.h"
#include "model/vit.h"

namespace vit {

// Counts of (true class, predicted class) pairs: row = true class, column = predicted class.
// int64 (classes, classes) on the CPU.
torch::Tensor confusion_matrix(const torch::Tensor& labels, const torch::Tensor& predicted,
                               int64_t classes);

struct Evaluation {
  torch::Tensor labels;     // (n) int64, CPU: the split's labels
  torch::Tensor predicted;  // (n) int64, CPU: argmax of every image's logits, in split order
  torch::Tensor confusion;  // (classes, classes) int64, CPU: see confusion_matrix
  double loss_sum = 0;      // summed cross-entropy over the split

  int64_t count() const { return labels.defined() ? labels.size(0) : 0; }
  int64_t correct() const;                     // the confusion matrix's diagonal
  double accuracy() const;                     // correct / count, 0..1 (0 for an empty split)
  double loss() const;                         // mean cross-entropy per image
  std::vector<int64_t> class_count() const;    // images per true class
  std::vector<int64_t> class_correct() const;  // correctly classified images per true class
  // Accuracy per true class, 0..1; NaN for a class without images.
  std::vector<double> class_accuracy() const;
  // Indices (in split order) of the first `limit` misclassified images (all for limit < 0).
  std::vector<int64_t> misclassified(int64_t limit) const;
};

// Builds an Evaluation from a whole split's labels and predictions (no collective).
Evaluation make_evaluation(torch::Tensor labels, torch::Tensor predicted, double loss_sum,
                           int64_t classes);

// Scores `split` (on the model's device) with `model`: each rank takes its contiguous share in
// batches of `batch_size`, then the predictions are gathered on every rank and the losses summed.
// Collective; every rank returns the same Evaluation.
Evaluation evaluate_model(VisionTransformer& model, const Split& split, int64_t batch_size,
                          Communicator& comm);

}  // namespace vit
