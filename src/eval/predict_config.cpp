#include "eval/predict_config.h"

#include <boost/program_options.hpp>
#include <ostream>
#include <utility>

#include "config/command_line.h"
#include "eval/eval_config.h"  // find_model_file, read_file_run, keys_used_as
#include "eval/png_image.h"    // png_supported
#include "eval/prediction.h"   // parse_prepare, run_image_shape
#include "util/error.h"

namespace vit {
namespace po = boost::program_options;

PredictParseResult parse_predict_args(int argc, const char* const* argv, std::ostream& help_out) {
  PredictParseResult result;
  PredictConfig& config = result.config;
  std::string invert = "auto";
  std::string prepare = "auto";

  po::options_description general("vit-predict: classify PNG images with a trained model");
  general.add_options()("help,h", "print this help and exit")(
      "version", "print the versions of vit-predict and its libraries and exit")(
      "model", po::value(&config.model)->value_name("PATH"),
      "a run directory (its checkpoints/final.pt, or its newest complete checkpoint when that "
      "is newer), a checkpoints/step-N.pt or a model file")(
      "json", po::bool_switch(&config.json),
      "one JSON object per image and line instead of the text lines")(
      "invert", po::value(&invert)->default_value(invert)->value_name("auto|yes|no"),
      "make the image white on black, as MNIST is (255 - v); auto: when the mean of the image's "
      "border pixels is above 127.5 (a dark digit on a light background); with --prepare "
      "digit: when the image's dark tail is longer than its bright one")(
      "prepare", po::value(&prepare)->default_value(prepare)->value_name("auto|digit|resize"),
      "digit: MNIST's preparation of a photo (ink found by its contrast with the paper, cropped, "
      "fitted into 20x20, centred by mass, background 0); resize: the whole image padded and "
      "resized; auto: an image of the model's size as it is, any other as digit (resize for a "
      "fashion-mnist model)")(
      "save-input", po::value(&config.save_input)->value_name("DIR"),
      "write the model's input of each image to DIR/<image name>.input.png (DIR is created)");
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
      "usage: vit-predict --model RUN_DIR|FILE [--json] [--prepare auto|digit|resize] "
      "[--invert auto|yes|no] [--save-input DIR] IMAGE.png [IMAGE.png ...]\n\n"
      "Prints each image's predicted class and its 10 probabilities (softmax of the logits).\n"
      "An image is read as gray (RGB by luminance, alpha composited on white). A photo of a digit\n"
      "is prepared as MNIST's digits were (--prepare); an image of the model's size is taken\n"
      "as it is, inverted as --invert says. Warnings (stderr) say when the input still looks\n"
      "unlike the training images. A bad image gives one error line and exit status 1; the\n"
      "others are still classified.\n";
  spec.shown = {&general, &keys};
  spec.hidden = &hidden;
  spec.positional = &positional;
  if (!png_supported()) {
    spec.help_footer =
        "This vit-predict was built without libpng and cannot read images (install "
        "libpng-dev, then reconfigure and rebuild).\n";
  }
  po::variables_map vm;
  const CommandLineOutcome outcome = parse_command_line(argc, argv, spec, vm, help_out);
  if (outcome != CommandLineOutcome::kRun) {
    result.help = outcome == CommandLineOutcome::kHelp;
    result.version = outcome == CommandLineOutcome::kVersion;
    return result;
  }
  VIT_CHECK(!config.model.empty(),
            "--model: required (a run directory, or a checkpoints/step-N.pt or "
            "checkpoints/final.pt of a run)");
  VIT_CHECK(!config.images.empty(),
            "no image given (usage: vit-predict --model PATH IMAGE.png ...)");
  config.invert = parse_invert(invert, "--invert");
  config.prepare = parse_prepare(prepare, "--prepare");

  config.model_file = find_model_file(config.model);
  std::vector<std::pair<std::string, std::string>> from_command_line;
  for (const KeyInfo& key : keys_used_as(EvalUse::kStored)) {
    if (vm.count(key.name))
      from_command_line.emplace_back(key.name, vm[key.name].as<std::string>());
  }
  FileRun file_run = read_file_run(config.model_file, from_command_line);
  config.run = std::move(file_run.run);
  validate(config.run);  // the keys alone: vit-predict reads no data set
  config.image = file_run.stored.image ? *file_run.stored.image : run_image_shape(config.run.data);
  return result;
}

}  // namespace vit
