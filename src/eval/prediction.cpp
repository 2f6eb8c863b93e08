#include "eval/prediction.h"

#include <cstdio>
#include <sstream>

#include "data/dataset.h"  // to_float_images, kNumClasses
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

Prediction predict_image(VisionTransformer& model, const ImageShape& shape, const std::string& path,
                         Invert invert) {
  const PixelImage pixels = read_png(path, shape.channels);
  const ModelImage input = to_model_image(pixels, shape, invert);
  Prediction out;
  out.file = path;
  out.width = pixels.width;
  out.height = pixels.height;
  out.resized = input.resized;
  out.inverted = input.inverted;

  torch::NoGradGuard no_grad;
  // (1, C, H, W) in [0, 1], as a training batch is made.
  const auto logits = model->forward(to_float_images(input.image.unsqueeze(0)));
  VIT_CHECK(logits.dim() == 2 && logits.size(1) == kNumClasses, "the model returned logits of ",
            "shape ", logits.sizes(), " for ", path);
  const auto probabilities = logits[0].to(torch::kFloat64).softmax(/*dim=*/0).contiguous();
  const double* p = probabilities.data_ptr<double>();
  out.probabilities.assign(p, p + kNumClasses);
  out.predicted = logits[0].argmax().item<int64_t>();
  return out;
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
  if (prediction.resized || prediction.inverted) {
    out << "  [";
    if (prediction.resized) {
      out << "resized from " << prediction.width << "x" << prediction.height;
    }
    if (prediction.inverted) out << (prediction.resized ? ", " : "") << "inverted";
    out << "]";
  }
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
      << ",\"inverted\":" << (prediction.inverted ? "true" : "false") << "}\n";
  return out.str();
}

}  // namespace vit
