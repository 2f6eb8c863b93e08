#include "eval/predict_config.h"

#include <boost/program_options.hpp>
#include <ostream>
#include <utility>

#include "config/command_line.h"
#include "eval/eval_config.h"  // find_model_file, read_file_run, keys_used_as
#include "eval/png_image.h"    // png_supported
#include "util/error.h"

namespace vit {
namespace po = boost::program_options;

PredictParseResult parse_predict_args(int argc, const char* const* argv, std::ostream& help_out) {
  PredictParseResult result;
  PredictConfig& config = result.config;
  std::string invert = "auto";

  po::options_description general("vit-predict: classify PNG images with a trained model");
  general.add_options()("help,h", "print this help and exit")(
      "model", po::value(&config.model)->value_name("PATH"),
      "a run directory (its checkpoints/final.pt, or its newest complete checkpoint when that "
      "is newer), a checkpoints/step-N.pt or a model file")(
      "json", po::bool_switch(&config.json),
      "one JSON object per image and line instead of the text lines")(
      "invert", po::value(&invert)->default_value(invert)->value_name("auto|yes|no"),
      "make the image white on black, as MNIST is (255 - v); auto: when the mean of the image's "
      "border pixels is above 127.5 (a dark digit on a light background)");
  po::options_description keys(
      "Model keys, for model files that do not store them (default: as stored in the file)");
  for (const KeyInfo& key : keys_used_as(EvalUse::kStored)) {
    if (key.role == KeyRole::kModelShape) {
      keys.add_options()(key.name, po::value<std::string>()->value_name("VALUE"), key.help);
    }
  }
  po::options_description hidden;
  hidden.add_options()("image", po::value(&config.images)->composing());
  po::positional_options_description positional;
  positional.add("image", -1);
  CommandLine spec;
  spec.usage =
      "usage: vit-predict --model RUN_DIR|FILE [--json] [--invert auto|yes|no] IMAGE.png "
      "[IMAGE.png ...]\n\n"
      "Prints each image's predicted class and its 10 probabilities (softmax of the logits).\n"
      "An image is read as gray (RGB by luminance, alpha composited on white), padded to a\n"
      "square with its border colour, resized to the model's 28x28 by area averaging, inverted\n"
      "as --invert says, and scaled to [0, 1] as the training data is. A bad image gives\n"
      "one error line and exit status 1; the others are still classified.\n";
  spec.shown = {&general, &keys};
  spec.hidden = &hidden;
  spec.positional = &positional;
  if (!png_supported()) {
    spec.help_footer =
        "This vit-predict was built without libpng and cannot read images (install "
        "libpng-dev, then reconfigure and rebuild).\n";
  }
  po::variables_map vm;
  if (parse_command_line(argc, argv, spec, vm, help_out) == CommandLineOutcome::kHelp) {
    result.help = true;
    return result;
  }
  VIT_CHECK(!config.model.empty(),
            "--model: required (a run directory, or a checkpoints/step-N.pt or "
            "checkpoints/final.pt of a run)");
  VIT_CHECK(!config.images.empty(),
            "no image given (usage: vit-predict --model PATH IMAGE.png ...)");
  config.invert = parse_invert(invert, "--invert");

  config.model_file = find_model_file(config.model);
  std::vector<std::pair<std::string, std::string>> from_command_line;
  for (const KeyInfo& key : keys_used_as(EvalUse::kStored)) {
    if (vm.count(key.name))
      from_command_line.emplace_back(key.name, vm[key.name].as<std::string>());
  }
  config.run = read_file_run(config.model_file, from_command_line).run;
  validate(config.run);  // the keys alone: vit-predict reads no data set
  return result;
}

}  // namespace vit
