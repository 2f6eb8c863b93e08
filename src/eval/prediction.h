// One image classified by a trained model: its predicted class and the 10 probabilities (softmax
// of the logits), and the lines vit-predict prints for it (text or JSON).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/train_config.h"
#include "eval/digit_prep.h"
#include "eval/model_input.h"
#include "model/vit.h"

namespace vit {

// How a user's image becomes the model's input (vit-predict --prepare):
enum class Prepare {
  kAuto,    // an image of the model's size is taken as it is (a data set's own image scores as in
            // vit-eval); any other is a photo: kDigit for a model of digits, else kResize
  kDigit,   // MNIST's preparation (eval/digit_prep.h): crop to the digit, fit 20x20, centre by mass
  kResize,  // the whole image padded and resized (to_model_image)
};

// "auto" | "digit" | "resize"; throws vit::Error naming `option` otherwise.
Prepare parse_prepare(const std::string& text, const std::string& option);

struct PredictOptions {
  Invert invert = Invert::kAuto;
  Prepare prepare = Prepare::kAuto;
  bool digits = true;  // whether the model was trained on digits (MNIST), for Prepare::kAuto
};

struct Prediction {
  std::string file;
  int64_t width = 0;  // the PNG's size
  int64_t height = 0;
  bool resized = false;
  bool inverted = false;
  bool prepared = false;              // MNIST's digit preparation ran (else the image was resized)
  DigitBox box;                       // where it found the digit, when prepared
  std::vector<std::string> warnings;  // how the model's input is still unlike the training images
  torch::Tensor input;                // (C, H, W) uint8: what the model saw
  int64_t predicted = -1;
  std::vector<double> probabilities;  // one per class, summing to 1
};

// The image shape of the run's data set: 28x28, 1 channel, for both data sets vit-train knows
// (mnist, fashion-mnist); the model is built for it.
ImageShape run_image_shape(const DataConfig& data);

// Reads `path` (read_png), makes it the model's input (prepare_digit or to_model_image, as
// `options` say, then to_float_images as the training data) and classifies it. `model` is in eval
// mode, on the CPU. Throws vit::Error naming `path` when the image cannot be read.
Prediction predict_image(VisionTransformer& model, const ImageShape& shape, const std::string& path,
                         const PredictOptions& options);

// The model's input of `prediction` as a PNG (gray as RGB) at `path`; throws vit::Error naming it.
void save_input_png(const Prediction& prediction, const std::string& path);

// "FILE: CLASS (P)  0:p0 1:p1 ... 9:p9" and, in brackets, how the image was changed.
std::string prediction_text(const Prediction& prediction);

// One JSON object: file, model, predicted, probability, probabilities (shortest exact doubles),
// width, height, resized, inverted, prepared, warnings.
std::string prediction_json(const Prediction& prediction, const std::string& model_file);

}  // namespace vit
