#include "eval/prediction.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "data/dataset.h"  // to_float_images, kNumClasses
#include "eval/png_image.h"
#include "eval/png_read.h"
#include "util/error.h"
#include "util/json.h"

namespace vit {

ImageShape run_image_shape(const DataConfig& data) {
  switch (data.dataset) {
    case DatasetName::kMnist:
    case DatasetName::kFashionMnist:
      return ImageShape{/*channels=*/1, /*height=*/28, /*width=*/28};
  }
  VIT_FAIL("data.dataset: '", to_string(data.dataset), "' (allowed: ",
           choice_names<DatasetName>(), ")");
}

Prepare parse_prepare(const std::string& text, const std::string& option) {
  if (text == "auto") return Prepare::kAuto;
  if (text == "digit") return Prepare::kDigit;
  if (text == "resize") return Prepare::kResize;
  VIT_FAIL(option, ": '", text, "' (allowed: auto, digit, resize)");
}

namespace {

// Mean of the outermost ring of pixels of a (C, H, W) image: its background.
double ring_mean(const torch::Tensor& image) {
  const auto pixels = image.to(torch::kFloat64);
  const int64_t h = pixels.size(1), w = pixels.size(2);
  if (h < 3 || w < 3) return pixels.mean().item<double>();
  const double inner = pixels.narrow(1, 1, h - 2).narrow(2, 1, w - 2).sum().item<double>();
  const auto ring = static_cast<double>(pixels.numel() - pixels.size(0) * (h - 2) * (w - 2));
  return (pixels.sum().item<double>() - inner) / ring;
}

// The whole image resized (to_model_image), with a warning when a resized image's background is
// not dark (an image of the model's size is taken as given: it may be the training data's own).
void resize_whole(const PixelImage& pixels, const ImageShape& shape, Invert invert,
                  Prediction* out) {
  const ModelImage input = to_model_image(pixels, shape, invert);
  out->resized = input.resized;
  out->inverted = input.inverted;
  out->input = input.image;
  const double background = ring_mean(input.image);
  if (input.resized && background > 32) {
    out->warnings.push_back("the model's input has a background of " +
                            std::to_string(std::lround(background)) +
                            " (the training images' is 0): is it a photo? try --prepare digit");
  }
}

}  // namespace

Prediction predict_image(VisionTransformer& model, const ImageShape& shape, const std::string& path,
                         const PredictOptions& options) {
  const PixelImage pixels = read_png(path, shape.channels);
  Prediction out;
  out.file = path;
  out.width = pixels.width;
  out.height = pixels.height;
  const bool model_sized = pixels.width == shape.width && pixels.height == shape.height;
  const bool digit = options.prepare == Prepare::kDigit ||
                     (options.prepare == Prepare::kAuto && !model_sized && options.digits &&
                      shape.channels == 1);
  if (digit) {
    PreparedDigit prepared = prepare_digit(pixels, shape, options.invert);
    out.warnings = std::move(prepared.warnings);
    if (prepared.found) {
      out.prepared = true;
      out.inverted = prepared.inverted;
      out.box = prepared.box;
      out.input = prepared.image;
    }
  }
  if (!out.prepared) resize_whole(pixels, shape, options.invert, &out);

  torch::NoGradGuard no_grad;
  // (1, C, H, W) in [0, 1], as a training batch is made.
  const auto logits = model->forward(to_float_images(out.input.unsqueeze(0)));
  VIT_CHECK(logits.dim() == 2 && logits.size(1) == kNumClasses, "the model returned logits of ",
            "shape ", logits.sizes(), " for ", path);
  const auto probabilities = logits[0].to(torch::kFloat64).softmax(/*dim=*/0).contiguous();
  const double* p = probabilities.data_ptr<double>();
  out.probabilities.assign(p, p + kNumClasses);
  out.predicted = logits[0].argmax().item<int64_t>();
  return out;
}

void save_input_png(const Prediction& prediction, const std::string& path) {
  VIT_CHECK(prediction.input.defined() && prediction.input.dim() == 3, "no model input to save for ",
            prediction.file);
  const auto hwc = prediction.input.permute({1, 2, 0}).contiguous();
  const auto pixels = hwc.accessor<uint8_t, 3>();
  RgbImage image(hwc.size(1), hwc.size(0));
  for (int64_t y = 0; y < hwc.size(0); ++y) {
    for (int64_t x = 0; x < hwc.size(1); ++x) {
      const bool gray = hwc.size(2) == 1;
      image.set(x, y, Rgb{pixels[y][x][0], pixels[y][x][gray ? 0 : 1], pixels[y][x][gray ? 0 : 2]});
    }
  }
  write_png(path, image);
}

std::string prediction_text(const Prediction& prediction) {
  std::ostringstream out;
  char number[32];
  std::snprintf(number, sizeof(number), "%.4f",
                prediction.probabilities[static_cast<size_t>(prediction.predicted)]);
  out << prediction.file << ": " << prediction.predicted << " (" << number << ") ";
  for (size_t c = 0; c < prediction.probabilities.size(); ++c) {
    std::snprintf(number, sizeof(number), "%.4f", prediction.probabilities[c]);
    out << ' ' << c << ':' << number;
  }
  std::vector<std::string> changes;
  if (prediction.prepared) {
    const DigitBox& b = prediction.box;
    changes.push_back("digit at " + std::to_string(b.x) + "," + std::to_string(b.y) + " " +
                      std::to_string(b.width) + "x" + std::to_string(b.height) + " of " +
                      std::to_string(prediction.width) + "x" + std::to_string(prediction.height) +
                      ", centred");
  } else if (prediction.resized) {
    changes.push_back("resized from " + std::to_string(prediction.width) + "x" +
                      std::to_string(prediction.height));
  }
  if (prediction.inverted) changes.push_back("inverted");
  for (size_t i = 0; i < changes.size(); ++i) out << (i == 0 ? "  [" : ", ") << changes[i];
  if (!changes.empty()) out << "]";
  out << "\n";
  return out.str();
}

std::string prediction_json(const Prediction& prediction, const std::string& model_file) {
  std::ostringstream out;
  out << "{\"file\":" << json_quote(prediction.file) << ",\"model\":" << json_quote(model_file)
      << ",\"predicted\":" << prediction.predicted << ",\"probability\":"
      << json_number(prediction.probabilities[static_cast<size_t>(prediction.predicted)])
      << ",\"probabilities\":[";
  for (size_t c = 0; c < prediction.probabilities.size(); ++c) {
    out << (c == 0 ? "" : ",") << json_number(prediction.probabilities[c]);
  }
  out << "],\"width\":" << prediction.width << ",\"height\":" << prediction.height
      << ",\"resized\":" << (prediction.resized ? "true" : "false")
      << ",\"inverted\":" << (prediction.inverted ? "true" : "false")
      << ",\"prepared\":" << (prediction.prepared ? "true" : "false") << ",\"warnings\":[";
  for (size_t i = 0; i < prediction.warnings.size(); ++i) {
    out << (i == 0 ? "" : ",") << json_quote(prediction.warnings[i]);
  }
  out << "]}\n";
  return out.str();
}

}  // namespace vit
