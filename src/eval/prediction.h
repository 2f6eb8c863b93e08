// One image classified by a trained model: its predicted class and the 10 probabilities (softmax
// of the logits), and the lines vit-predict prints for it (text or JSON).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/train_config.h"
#include "eval/model_input.h"
#include "model/vit.h"

namespace vit {

struct Prediction {
  std::string file;
  int64_t width = 0;  // the PNG's size
  int64_t height = 0;
  bool resized = false;
  bool inverted = false;
  int64_t predicted = -1;
  std::vector<double> probabilities;  // one per class, summing to 1
};

// The image shape of the run's data set: 28x28, 1 channel, for both data sets vit-train knows
// (mnist, fashion-mnist); the model is built for it.
ImageShape run_image_shape(const DataConfig& data);

// Reads `path` (read_png), makes it the model's input (to_model_image, then to_float_images as
// the training data) and classifies it. `model` is in eval mode, on the CPU. Throws vit::Error
// naming `path` when the image cannot be read.
Prediction predict_image(VisionTransformer& model, const ImageShape& shape, const std::string& path,
                         Invert invert);

// "FILE: CLASS (P)  0:p0 1:p1 ... 9:p9" and, in brackets, how the image was changed.
std::string prediction_text(const Prediction& prediction);

// One JSON object: file, model, predicted, probability, probabilities (shortest exact doubles),
// width, height, resized, inverted.
std::string prediction_json(const Prediction& prediction, const std::string& model_file);

}  // namespace vit
