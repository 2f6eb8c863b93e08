// vit-predict: classifies a user's own PNG images with a trained model and prints, per image, the
// predicted class and the 10 probabilities. One process on the CPU, no MPI: a few images need
// neither ranks nor a GPU.
// parse (model file, its keys) -> model -> each image: read, convert, classify, print.
#include <spdlog/sinks/stdout_sinks.h>  // warnings to stderr: stdout holds the predictions
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "data/dataset.h"         // kNumClasses
#include "parallel/library_versions.h"
#include "parallel/rank_agreement.h"  // describe_error: one line, without LibTorch's backtrace
#include "eval/predict_config.h"
#include "eval/prediction.h"
#include "model/vit.h"
#include "store/checkpoint.h"
#include "util/error.h"

namespace {

void log_warnings_to_stderr() {
  auto logger = spdlog::stderr_logger_st("vit-predict");
  logger->set_pattern("%l: %v");  // "warning: ..."
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

void print_error(const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", vit::describe_error(e).c_str());
  std::fflush(stderr);
}

// Every image is tried: a bad one gives its error line and makes the exit status 1, and the good
// ones are still printed (a batch of files is not lost to one broken file).
int predict(const vit::PredictConfig& config) {
  const vit::ImageShape& shape = config.image;
  vit::VisionTransformer model = vit::make_model(config.run, shape, vit::kNumClasses);
  vit::load_model_state(config.model_file, model, config.run);
  model->eval();
  if (!config.json) std::printf("model %s\n", config.model_file.c_str());
  vit::PredictOptions options;
  options.invert = config.invert;
  options.prepare = config.prepare;
  options.digits = config.run.data.dataset == vit::DatasetName::kMnist;
  if (!config.save_input.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(config.save_input, ec);
    VIT_CHECK(!ec, "--save-input: ", config.save_input, ": cannot create directory: ", ec.message());
  }
  int status = 0;
  for (const std::string& path : config.images) {
    try {
      const vit::Prediction prediction = vit::predict_image(model, shape, path, options);
      for (const std::string& warning : prediction.warnings) spdlog::warn("{}: {}", path, warning);
      if (!config.save_input.empty()) {
        vit::save_input_png(prediction, config.save_input + "/" +
                                            std::filesystem::path(path).stem().string() +
                                            ".input.png");
      }
      const std::string line = config.json ? vit::prediction_json(prediction, config.model_file)
                                           : vit::prediction_text(prediction);
      std::fputs(line.c_str(), stdout);
      std::fflush(stdout);
    } catch (const std::exception& e) {
      print_error(e);
      status = 1;
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    log_warnings_to_stderr();
    const vit::PredictParseResult parsed = vit::parse_predict_args(argc, argv, std::cout);
    if (parsed.help) return 0;
    if (parsed.version) {
      std::fputs(vit::version_report("vit-predict").c_str(), stdout);
      return 0;
    }
    return predict(parsed.config);
  } catch (const std::exception& e) {
    print_error(e);
  }
  return 1;
}
