// PredictConfig: what vit-predict runs with, filled once and then passed as const&. The model
// comes from a checkpoint, a model file, or a run directory (its final.pt or newest complete
// checkpoint, find_model_file); its shape from the file's stored keys, as in vit-eval.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "config/train_config.h"
#include "eval/model_input.h"
#include "eval/prediction.h"

namespace vit {

struct PredictConfig {
  std::string model;                // --model as given: a file or a run directory
  std::string model_file;           // the file it resolves to
  bool json = false;                // --json: one JSON object per image and line
  Invert invert = Invert::kAuto;    // --invert
  Prepare prepare = Prepare::kAuto;  // --prepare
  std::string save_input;           // --save-input DIR: the model's input of each image as a PNG
  std::vector<std::string> images;  // the PNG files, in the order given
  TrainConfig run;                  // the file's keys (model.* are what matter), validated
  // The images the model takes: as the file stores them, or (files of earlier versions, which
  // store none) data.dataset's, 1x28x28.
  ImageShape image;
};

struct PredictParseResult {
  PredictConfig config;
  bool help = false;     // --help: printed, nothing to do
  bool version = false;  // --version: the caller prints version_report
};

// Parses the command line and reads the model file's stored keys. Throws vit::Error naming the
// option, key or file at fault. `help_out` receives --help text.
PredictParseResult parse_predict_args(int argc, const char* const* argv, std::ostream& help_out);

}  // namespace vit
